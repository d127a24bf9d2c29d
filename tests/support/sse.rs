//! Server-sent events, as the IOC API's stream (`/api/v1/stream`) sends them.

/// One event block; a field is `None` when the block lacks it (a keep-alive comment has none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseBlock {
    /// `id:`
    pub id: Option<String>,
    /// `event:`, the event's type.
    pub event: Option<String>,
    /// `data:`
    pub data: Option<String>,
}

/// Takes every complete block (ended by a blank line) off the front of `buffer`, leaving a
/// partial one for the next chunk.
pub fn take_events(buffer: &mut String) -> Vec<SseBlock> {
    let mut blocks = Vec::new();
    while let Some(end) = buffer.find("\n\n") {
        let block: String = buffer.drain(..end + 2).collect();
        let field = |name: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim_start().to_owned())
        };
        blocks.push(SseBlock {
            id: field("id:"),
            event: field("event:"),
            data: field("data:"),
        });
    }
    blocks
}
