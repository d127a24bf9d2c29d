//! The one executor the firmware needs: poll a future until it is ready.
//!
//! The flash crate (`sequential-storage`) and the MQTT client (`minimq`) are `async`. On the node
//! their futures complete by polling alone (flash operations finish in place; the UART and SysTick
//! are polled), so a spinning `block_on` with a no-op waker is enough, and the node logic stays a
//! plain synchronous state machine that tests drive with a clock.
//!
//! Design: an executor such as `embassy-executor` would let the core sleep between wake-ups, but it
//! needs interrupt-driven drivers for every peripheral; the board's main loop already sleeps on
//! `wfi` between SysTick ticks.

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

/// Polls `future` to completion on the calling thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        core::hint::spin_loop();
    }
}
