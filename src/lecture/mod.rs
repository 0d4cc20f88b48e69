//! The lecture's own demonstrations: a two-layer network with hand-written gradients
//! ([`manual_backprop`]) and helpers for the 2-D toy problems ([`toy`]).

pub mod manual_backprop;
pub mod toy;
