//! The writer's clock: unique, strictly increasing microsecond timestamps.

use hearth_interface::instant::Instant;

/// Hands out timestamps that never repeat and never go backwards, even when the system
/// clock does or when many writes fall in the same microsecond.
#[derive(Debug)]
pub(crate) struct MonotonicClock {
    last: i64,
}

impl MonotonicClock {
    /// A clock whose next tick is after `last` (the newest timestamp already stored).
    pub(crate) fn starting_after(last: i64) -> Self {
        Self { last }
    }

    /// Makes the next tick come after `stored`, a timestamp written by someone else.
    pub(crate) fn observe(&mut self, stored: i64) {
        self.last = self.last.max(stored);
    }

    /// The next timestamp.
    pub(crate) fn tick(&mut self) -> i64 {
        self.last = Instant::now().0.max(self.last + 1);
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_strictly_increase_even_from_the_future() {
        let future = Instant::now().0 + 10_000_000;
        let mut clock = MonotonicClock::starting_after(future);
        let a = clock.tick();
        let b = clock.tick();
        assert_eq!(a, future + 1);
        assert_eq!(b, a + 1);
    }
}
