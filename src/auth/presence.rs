//! Whether the client a piece of work is for still waits for its answer.
//! The edge knows (it holds the connection); the core only asks, before it
//! spends a bcrypt round on someone who has gone.

use std::sync::Arc;

type Probe = Arc<dyn Fn() -> bool + Send + Sync>;

/// A question the core can ask from any thread: is the client still there?
/// The default (a command, a test) always is.
#[derive(Clone, Default)]
pub struct Presence(Option<Probe>);

impl Presence {
    /// `still_there` answers without blocking.
    pub fn new(still_there: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(still_there)))
    }

    pub fn is_gone(&self) -> bool {
        self.0.as_ref().is_some_and(|still_there| !still_there())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_probe_that_says_so_means_gone() {
        assert!(!Presence::default().is_gone());
        assert!(!Presence::new(|| true).is_gone());
        assert!(Presence::new(|| false).is_gone());
    }
}
