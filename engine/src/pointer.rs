//! JSON Pointers (RFC 6901) of places in a workflow: built in one reused
//! buffer while walking, so a walk allocates only when it keeps a pointer.

use std::borrow::Cow;

/// `key` as a pointer segment (`~` → `~0`, `/` → `~1`); borrowed when
/// there is nothing to escape.
pub fn escape(key: &str) -> Cow<'_, str> {
    if memchr::memchr2(b'~', b'/', key.as_bytes()).is_some() {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
}

/// A pointer being walked: segments are pushed and popped.
#[derive(Debug, Default, Clone)]
pub(crate) struct Pointer(String);

impl Pointer {
    /// The pointer `base` (already a pointer, such as `/parameters`).
    pub(crate) fn at(base: &str) -> Self {
        Self(base.to_owned())
    }

    /// Appends `/key`; returns the length to [`Pointer::truncate`] back to.
    pub(crate) fn push_key(&mut self, key: &str) -> usize {
        let len = self.0.len();
        self.0.push('/');
        self.0.push_str(&escape(key));
        len
    }

    /// Appends `/index`; returns the length to truncate back to.
    pub(crate) fn push_index(&mut self, index: usize) -> usize {
        let len = self.0.len();
        self.0.push('/');
        self.0.push_str(itoa::Buffer::new().format(index));
        len
    }

    /// Back to `len` bytes (a value a push returned).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    /// The pointer as text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_escaped_and_popped() {
        let mut p = Pointer::at("/parameters");
        let back = p.push_key("a/b~c");
        p.push_index(3);
        assert_eq!(p.as_str(), "/parameters/a~1b~0c/3");
        p.truncate(back);
        assert_eq!(p.as_str(), "/parameters");
        assert!(matches!(escape("plain"), Cow::Borrowed("plain")));
    }
}
