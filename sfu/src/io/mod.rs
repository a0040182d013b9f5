//! The thin IO layer: the media workers, each a thread that owns a socket, and the one
//! handle that routes to them.

mod batch;
pub mod handle;
mod load;
mod placement;
mod recv;
pub mod tcp;
mod worker;

/// The IP clients are told to reach a socket bound at `bound` at: `announce` if given, else
/// the bound IP, which must then not be a wildcard (`0.0.0.0`, `::`). `what` names the socket
/// in the error.
pub fn announced_ip(
    bound: std::net::SocketAddr,
    announce: Option<std::net::IpAddr>,
    what: &str,
) -> std::io::Result<std::net::IpAddr> {
    match announce {
        Some(ip) => Ok(ip),
        None if bound.ip().is_unspecified() => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what} binds a wildcard address: an IP to announce is required"),
        )),
        None => Ok(bound.ip()),
    }
}

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
    use super::{announced_ip, recycle};
    use std::io::{IoSlice, IoSliceMut};

    #[test]
    fn a_wildcard_bind_needs_an_ip_to_announce() {
        let any = "0.0.0.0:5000".parse().unwrap();
        let public = "203.0.113.9".parse().unwrap();
        assert_eq!(announced_ip(any, Some(public), "x").unwrap(), public);
        let e = announced_ip(any, None, "the media socket").unwrap_err();
        assert!(
            e.to_string().contains("the media socket binds a wildcard"),
            "{e}"
        );
        let lo = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(announced_ip(lo, None, "x").unwrap(), lo.ip());
    }

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
