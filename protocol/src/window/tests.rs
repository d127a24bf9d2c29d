use super::*;

fn key(boot: u32, seq: u32) -> FrameKey {
    FrameKey { node: 7, boot, seq }
}

/// The digest of the frame the node sent as (boot, seq): a made-up tag in a frame's place.
fn bytes(boot: u32, seq: u32) -> Digest {
    Digest::of(&frame_with_tag(boot.wrapping_mul(1_000_003) ^ seq))
}

/// Another frame with the same key.
fn other_bytes(boot: u32, seq: u32) -> Digest {
    Digest::of(&frame_with_tag(boot.wrapping_mul(1_000_003) ^ seq ^ 0x80_0000))
}

/// A header and a body, then `tag` where a frame's tag starts.
fn frame_with_tag(tag: u32) -> Vec<u8> {
    [[1, 0, 7, 0], tag.to_le_bytes(), [0; 4]].concat()
}

/// A window without digests still knows what it saw, and tells no duplicate from a reused key
/// unless the broker says it is its own resend.
#[test]
fn a_window_without_digests_keeps_the_seqs_only() {
    let mut w = ReplayWindow::default();
    w.mark_frame(1, 0);
    let mut w = w.without_digests();
    w.mark_frame(1, 1);
    assert!(w.nodes[&7].recent.is_none());
    assert!(is_replay(&w.check_frame(1, 1)));
    assert_eq!(w.check(key(1, 1), bytes(1, 1), true), Verdict::Duplicate);
    assert_eq!(w.check_frame(1, 2), Verdict::New);
}

#[test]
fn the_digest_is_the_frames_tag() {
    let frame = [&[1u8, 0, 9, 9][..], &[0xAB, 0xCD, 0xEF, 0x12], &[0; 4]].concat();
    assert_eq!(
        Digest::of(&frame).bits(),
        0xEF_CDAB,
        "24 bits of the tag, little-endian"
    );
    assert_eq!(Digest::of(b"short"), Digest::from_bits(CRC32.checksum(b"short")));
}

trait Frames {
    fn mark_frame(&mut self, boot: u32, seq: u32);
    fn check_frame(&self, boot: u32, seq: u32) -> Verdict;
}

impl Frames for ReplayWindow {
    fn mark_frame(&mut self, boot: u32, seq: u32) {
        self.mark(key(boot, seq), bytes(boot, seq));
    }

    /// The frame sent again by the node or an attacker, not by the broker.
    fn check_frame(&self, boot: u32, seq: u32) -> Verdict {
        self.check(key(boot, seq), bytes(boot, seq), false)
    }
}

fn is_replay(v: &Verdict) -> bool {
    matches!(v, Verdict::Replay(_))
}

#[test]
fn new_duplicate_and_replay() {
    let mut w = ReplayWindow::default();
    assert_eq!(w.check_frame(2, 10), Verdict::New);
    w.mark_frame(2, 10);
    assert_eq!(w.check_frame(2, 10), Verdict::Duplicate, "the node's retry");
    assert_eq!(
        w.check_frame(2, 9),
        Verdict::New,
        "a gap below the top is still open"
    );
    w.mark_frame(2, 9);
    assert_eq!(w.check_frame(2, 9), Verdict::Duplicate);
    for seq in 11..=10 + RECENT as u32 {
        w.mark_frame(2, seq);
    }
    assert!(
        is_replay(&w.check_frame(2, 10)),
        "seen, longer ago than the last {RECENT}, sent again: a replay"
    );
    assert_eq!(
        w.check(key(2, 10), bytes(2, 10), true),
        Verdict::Duplicate,
        "the broker's own redelivery"
    );
    assert_eq!(
        w.check_frame(2, 11),
        Verdict::Duplicate,
        "among the last {RECENT}"
    );
    assert_eq!(w.check_frame(3, 0), Verdict::New, "a reboot starts again at 0");
    w.mark_frame(3, 0);
    assert_eq!(
        w.check_frame(2, 11 + RECENT as u32),
        Verdict::New,
        "the earlier boot's next frame"
    );
    w.mark_frame(2 + BOOTS, 0);
    assert!(is_replay(&w.check_frame(2, 500)), "{BOOTS} boots back: forgotten");
    assert!(
        is_replay(&w.check(key(2, 500), bytes(2, 500), true)),
        "forgotten even when redelivered"
    );
    assert_eq!(
        w.check_frame(3, 1),
        Verdict::New,
        "{} boots back: remembered",
        BOOTS - 1
    );
}

/// A re-flashed node counts from boot 1 and seq 0 again: its new frames carry keys the window
/// holds, with other bytes. None is a duplicate; those whose first bytes are still known are
/// reused keys, the others replays, and a broker redelivery of the first frame stays one.
#[test]
fn a_node_that_reuses_its_keys_is_no_duplicate() {
    let mut w = ReplayWindow::default();
    for seq in 0..40 {
        w.mark_frame(1, seq);
    }
    for seq in 0..40 {
        let verdict = w.check(key(1, seq), other_bytes(1, seq), false);
        if seq >= 40 - RECENT as u32 {
            assert!(matches!(verdict, Verdict::SeqReused(_)), "seq {seq}: {verdict:?}");
        } else {
            assert!(is_replay(&verdict), "seq {seq}: {verdict:?}");
        }
    }
    assert!(
        matches!(
            w.check(key(1, 39), other_bytes(1, 39), true),
            Verdict::SeqReused(_)
        ),
        "a reused key the broker hands out again is still reused"
    );
    assert_eq!(w.check_frame(1, 39), Verdict::Duplicate, "the first frame itself");
}

/// Store-and-forward after an outage: the live stream goes on while the backlog, hundreds of
/// seqs behind it, drains oldest first. Every backlog frame is new once and a duplicate after.
#[test]
fn a_backlog_far_behind_the_live_stream_is_new() {
    let mut w = ReplayWindow::default();
    for seq in 0..100 {
        w.mark_frame(1, seq);
    }
    for live in 400..1_000 {
        w.mark_frame(1, live);
    }
    for backlog in 100..400 {
        assert_eq!(w.check_frame(1, backlog), Verdict::New, "seq {backlog}");
        w.mark_frame(1, backlog);
        assert_eq!(
            w.check_frame(1, backlog),
            Verdict::Duplicate,
            "seq {backlog} again"
        );
    }
    assert_eq!(
        w.nodes[&7].boots[0].runs,
        vec![(0, 399), (400, 999)],
        "the backlog's run ends where it caught up"
    );
}

/// A node reboots with frames of its last boot still queued on flash: they arrive after the
/// new boot's first frames and are written.
#[test]
fn frames_of_an_earlier_boot_arrive_after_a_reboot() {
    let mut w = ReplayWindow::default();
    for seq in 0..50 {
        w.mark_frame(3, seq);
    }
    for seq in 0..10 {
        w.mark_frame(4, seq);
    }
    for seq in 50..300 {
        assert_eq!(w.check_frame(3, seq), Verdict::New, "queued seq {seq} of boot 3");
        w.mark_frame(3, seq);
    }
    assert_eq!(w.check_frame(3, 299), Verdict::Duplicate);
    assert!(is_replay(&w.check_frame(3, 5)), "delivered long ago");
    assert!(w.in_current_boot(7, 4) && !w.in_current_boot(7, 3));
}

#[test]
fn too_many_gaps_forget_the_oldest_run() {
    let mut w = ReplayWindow::default();
    let runs = RUNS as u32 + 10;
    for i in 0..runs {
        w.mark_frame(1, 2 * i);
    }
    let boot = &w.nodes[&7].boots[0];
    assert_eq!(boot.runs.len(), RUNS);
    assert_eq!(
        boot.floor,
        2 * 9 + 1,
        "ten runs dropped, the floor above the last"
    );
    assert!(is_replay(&w.check_frame(1, 1)), "below the floor");
    assert!(is_replay(&w.check_frame(1, 18)), "below the floor, seen once");
    assert_eq!(w.check_frame(1, 19), Verdict::New, "the first gap still open");
    assert_eq!(w.check_frame(1, 2 * runs - 1), Verdict::New);
}

#[test]
fn at_capacity_touching_runs_merge_before_any_is_forgotten() {
    let mut w = ReplayWindow::default();
    // Outages: each leaves a backlog run that drains up to the live run after it.
    for outage in 0..RUNS as u32 {
        for seq in (outage * 10 + 5..outage * 10 + 10).chain(outage * 10..outage * 10 + 5) {
            w.mark_frame(1, seq);
        }
    }
    let boot = &w.nodes[&7].boots[0];
    assert_eq!(boot.floor, 0, "nothing forgotten");
    assert!(boot.runs.len() <= RUNS);
    assert_eq!(
        boot.runs.last(),
        Some(&(RUNS as u32 * 10 - 5, RUNS as u32 * 10 - 1))
    );
}

#[test]
fn the_oldest_boot_gives_up_runs_first_when_a_node_has_too_many() {
    let mut w = ReplayWindow::default();
    for i in 0..RUNS as u32 {
        w.mark_frame(1, 2 * i);
    }
    for i in 0..10 {
        w.mark_frame(2, 2 * i);
    }
    let node = &w.nodes[&7];
    let runs: Vec<usize> = node.boots.iter().map(|b| b.runs.len()).collect();
    assert_eq!(runs, vec![RUNS - 10, 10], "runs per boot");
    assert_eq!(
        node.boots[0].floor,
        2 * 9 + 1,
        "boot 1 forgot its ten oldest runs"
    );
    assert!(node.boots.iter().all(|b| b.runs.capacity() <= RUNS + 1));
    assert!(is_replay(&w.check_frame(1, 3)));
    assert_eq!(
        w.check_frame(1, 2 * RUNS as u32 + 1),
        Verdict::New,
        "boot 1's backlog"
    );
    assert_eq!(w.check_frame(2, 1), Verdict::New, "the live boot forgot nothing");
}

#[test]
fn seqs_at_the_top_of_the_range_do_not_overflow() {
    let mut w = ReplayWindow::default();
    for seq in [u32::MAX, u32::MAX - 2, u32::MAX - 1, 0] {
        w.mark_frame(u32::MAX, seq);
    }
    assert_eq!(
        w.nodes[&7].boots[0].runs,
        vec![(0, 0), (u32::MAX - 2, u32::MAX - 1), (u32::MAX, u32::MAX)]
    );
    assert_eq!(w.check_frame(u32::MAX, u32::MAX), Verdict::Duplicate);
}
