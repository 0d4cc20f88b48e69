//! Producing the next minibatches on a background thread while the current step runs.
//!
//! Assembling a batch (gathering shuffled u8 images, normalizing, augmenting) is plain CPU work
//! that does not depend on the step before it: [`pipelined`] runs it up to `depth` batches ahead,
//! in order, so the training step never waits for it (and the results are the same as
//! assembling each batch in turn: one producer, one order, one random stream).

use std::sync::mpsc::sync_channel;

/// Runs `produce` on a background thread and `consume` on this one, handing over the items
/// `produce` emits, in order, at most `depth` ahead. `produce`'s emit function returns `false`
/// once `consume` has stopped listening (it returned or failed): `produce` should then return.
///
/// ```
/// let total = kindling::data::prefetch::pipelined(
///     2,
///     |emit| {
///         for i in 0..10 {
///             if !emit(i) {
///                 return;
///             }
///         }
///     },
///     |items| items.take(4).sum::<i32>(), // stops early: the producer is told and returns
/// );
/// assert_eq!(total, 0 + 1 + 2 + 3);
/// ```
pub fn pipelined<T: Send, R>(
    depth: usize,
    produce: impl FnOnce(&mut dyn FnMut(T) -> bool) + Send,
    consume: impl FnOnce(&mut dyn Iterator<Item = T>) -> R,
) -> R {
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel(depth);
        s.spawn(move || produce(&mut |item| tx.send(item).is_ok()));
        // Dropped when `consume` returns, before the scope joins the producer: a producer blocked
        // on a full channel then sees the error and stops.
        let mut items = rx.into_iter();
        consume(&mut items)
    })
}
