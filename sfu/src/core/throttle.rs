//! Repeated log lines thinned out: a client that sends refused requests at its full rate
//! must not flood the log, but the first ones, and how many followed, must show.

/// Counts occurrences of one kind of event and says which of them to log.
#[derive(Debug, Default, Clone, Copy)]
pub struct Throttle {
    seen: u64,
}

impl Throttle {
    /// Occurrences logged one by one before thinning starts.
    const FIRST: u64 = 3;
    /// After the first ones, one occurrence in this many is logged.
    const EVERY: u64 = 100;

    /// Counts one occurrence; returns how many there have been when this one should be
    /// logged, and `None` when it should not.
    pub fn note(&mut self) -> Option<u64> {
        self.seen += 1;
        (self.seen <= Self::FIRST || self.seen.is_multiple_of(Self::EVERY)).then_some(self.seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_few_then_every_hundredth() {
        let mut t = Throttle::default();
        let logged: Vec<u64> = (0..250).filter_map(|_| t.note()).collect();
        assert_eq!(logged, [1, 2, 3, 100, 200]);
    }
}
