//! How large an output is as JSON text, without writing the text: what
//! the host's output limit is checked against, on either side of the
//! boundary.

use serde_json::Value;

use crate::request::NodeOutput;

/// The exact size of `output` as JSON text, counted without building it.
pub fn json_size(output: &NodeOutput) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail for JSON values.
    let _ = serde_json::to_writer(&mut count, output);
    count.0
}

/// Whether `value`'s JSON text could be longer than `limit`: an upper
/// bound on its length (every character escaped), walked until the limit
/// is passed, so small outputs are cleared without being written.
pub fn json_size_may_exceed(value: &Value, limit: usize) -> bool {
    let mut bound = 0usize;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        bound += match value {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => 24,
            Value::String(s) => 2 + 6 * s.len(),
            Value::Array(items) => {
                pending.extend(items);
                2 + items.len()
            }
            Value::Object(object) => {
                pending.extend(object.values());
                2 + object.keys().map(|k| 4 + 6 * k.len()).sum::<usize>()
            }
        };
        if bound > limit {
            return true;
        }
    }
    false
}
