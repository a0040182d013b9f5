//! The thin IO layer: the media workers, each a thread that owns a socket, and the one
//! handle that routes to them.

mod batch;
pub mod handle;
mod load;
mod placement;
mod recv;
mod worker;

/// Reuses an empty vector's allocation for another element type of the same layout, such as
/// an iovec array whose borrows of the datagrams must end between two batches: the batch
/// loop keeps the allocation without keeping the borrows. (`collect` reuses a source buffer
/// of the same size and alignment in place; otherwise it allocates, which is only slower.)
pub fn recycle<T, U>(v: Vec<T>) -> Vec<U> {
    debug_assert!(v.is_empty());
    v.into_iter()
        .map(|_| unreachable!("recycled vectors are empty"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::recycle;
    use std::io::{IoSlice, IoSliceMut};

    #[test]
    fn recycling_keeps_the_allocation() {
        let v: Vec<[IoSlice<'static>; 1]> = Vec::with_capacity(64);
        let (cap, ptr) = (v.capacity(), v.as_ptr() as usize);
        let w: Vec<[IoSlice<'_>; 1]> = recycle(v);
        assert_eq!((w.capacity(), w.as_ptr() as usize), (cap, ptr));
        let m: Vec<[IoSliceMut<'_>; 1]> = recycle(w);
        assert_eq!((m.capacity(), m.as_ptr() as usize), (cap, ptr));
    }
}
