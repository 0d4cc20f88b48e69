//! Run descriptions ready to use: the tuned defaults of each model and data set ([`defaults`]) and
//! the named recipes ([`recipe`]: airbench94).

pub mod defaults;
pub mod recipe;
