//! Isolating the points InfluxDB refuses: on a permanent error (400, 413, 422) the batch is
//! halved and each half written again, down to single points; a point refused on its own is
//! returned with the server's message and dead-lettered by the caller, the rest are written.
//!
//! Writing a half again after the server took part of it (InfluxDB 1.x writes the good points of
//! a 400 "partial write") is harmless: a point's identity makes the second write an overwrite.

use std::ops::Range;

use super::{Retry, WriteError};

/// Something that writes line protocol.
pub trait LineWriter {
    /// Writes `lines` (whole lines, each ending in `\n`).
    fn write_lines(&mut self, lines: &str) -> impl Future<Output = Result<(), WriteError>> + Send;
}

/// Writes `lines`, whose points are `points` (byte ranges, in order, covering every line), and
/// returns the points refused on their own, as (index into `points`, server message).
///
/// # Errors
///
/// The first retriable error: the caller retries or spools the whole batch.
pub async fn write_isolating<W: LineWriter>(
    writer: &mut W,
    lines: &str,
    points: &[Range<usize>],
) -> Result<Vec<(usize, String)>, WriteError> {
    let mut refused = Vec::new();
    if points.is_empty() {
        return Ok(refused);
    }
    // Ranges of point indices still to write, last pushed written first so the order holds.
    let mut todo: Vec<Range<usize>> = Vec::with_capacity(16);
    todo.push(0..points.len());
    let mut first = true;
    while let Some(group) = todo.pop() {
        let body = if first {
            lines
        } else {
            &lines[points[group.start].start..points[group.end - 1].end]
        };
        first = false;
        match writer.write_lines(body).await {
            Ok(()) => {}
            Err(e) if e.retry == Retry::Retriable => return Err(e),
            Err(e) if group.len() == 1 => refused.push((group.start, e.message)),
            Err(_) => {
                let mid = group.start + group.len() / 2;
                todo.push(mid..group.end);
                todo.push(group.start..mid);
            }
        }
    }
    refused.sort_by_key(|(i, _)| *i);
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::retry::{classify_status, classify_transport};

    /// Refuses any body containing a bad line; counts requests.
    struct Picky {
        requests: usize,
        fail_transport_at: Option<usize>,
    }

    impl LineWriter for Picky {
        async fn write_lines(&mut self, lines: &str) -> Result<(), WriteError> {
            self.requests += 1;
            if self.fail_transport_at == Some(self.requests) {
                return Err(classify_transport("connection reset"));
            }
            match lines.lines().find(|l| l.contains("bad")) {
                Some(l) => Err(classify_status(400, None, &format!("unable to parse '{l}'"))),
                None => Ok(()),
            }
        }
    }

    fn batch(bad: &[usize], n: usize) -> (String, Vec<Range<usize>>) {
        let (mut lines, mut ranges) = (String::new(), Vec::new());
        for i in 0..n {
            let start = lines.len();
            lines.push_str(&format!(
                "m,p={i} v={}\n",
                if bad.contains(&i) { "bad" } else { "1" }
            ));
            ranges.push(start..lines.len());
        }
        (lines, ranges)
    }

    #[tokio::test]
    async fn isolates_exactly_the_bad_points() {
        let (lines, ranges) = batch(&[3, 17, 18], 40);
        let mut writer = Picky {
            requests: 0,
            fail_transport_at: None,
        };
        let refused = write_isolating(&mut writer, &lines, &ranges)
            .await
            .expect("no transport error");
        let indices: Vec<usize> = refused.iter().map(|(i, _)| *i).collect();
        assert_eq!(indices, [3, 17, 18]);
        assert!(refused[0].1.contains("m,p=3"), "{}", refused[0].1);
        assert!(
            writer.requests < 40,
            "bisection, not one request per point: {}",
            writer.requests
        );

        let (lines, ranges) = batch(&[], 10);
        let mut writer = Picky {
            requests: 0,
            fail_transport_at: None,
        };
        assert!(
            write_isolating(&mut writer, &lines, &ranges)
                .await
                .expect("ok")
                .is_empty()
        );
        assert_eq!(writer.requests, 1);
    }

    #[tokio::test]
    async fn a_retriable_error_while_splitting_gives_the_batch_back() {
        let (lines, ranges) = batch(&[5], 20);
        let mut writer = Picky {
            requests: 0,
            fail_transport_at: Some(3),
        };
        let err = write_isolating(&mut writer, &lines, &ranges)
            .await
            .expect_err("transport");
        assert_eq!(err.retry, Retry::Retriable);
    }
}
