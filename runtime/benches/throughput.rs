//! In-process message throughput: one actor versus a bare Tokio channel, measured in
//! the same run.
//!
//! Run with `cargo bench -p acton-reactive --bench throughput` (append
//! `-- --messages N --rounds R` to change the load). Prints messages per second
//! (median of the rounds) for:
//! - `send`: fire-and-forget into one actor that sums the values, against a bare
//!   bounded `mpsc` channel of the same capacity drained by one task, with
//!   `recv().await` per message and with the actor loop's `try_recv` draining;
//! - `ask`: request/reply round trips, one at a time, against a bare `mpsc` request
//!   channel answered through a `oneshot`.

use std::time::{Duration, Instant};

use acton_reactive::prelude::*;
use tokio::sync::{mpsc, oneshot};

#[acton_message]
struct Add(u64);

#[acton_message]
struct Total;

const CAPACITY: usize = 256;

fn main() {
    let mut messages: u64 = 1_000_000;
    let mut rounds = 7;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--messages" => messages = args.next().and_then(|v| v.parse().ok()).unwrap_or(messages),
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).unwrap_or(rounds),
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    let asks = messages / 10;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    println!("in-process throughput, median of {rounds} rounds ({messages} sends, {asks} asks per round)");
    println!("{:<28} {:>14} {:>10}", "case", "msgs/s", "vs bare");
    let bare_send = median(rounds, || runtime.block_on(bare_send(messages)));
    let bare_drain = median(rounds, || runtime.block_on(bare_send_draining(messages)));
    let actor_send = median(rounds, || runtime.block_on(actor_send(messages)));
    let bare_ask = median(rounds, || runtime.block_on(bare_ask(asks)));
    let actor_ask = median(rounds, || runtime.block_on(actor_ask(asks)));
    report("bare mpsc send", messages, bare_send, bare_send);
    report("bare mpsc send, try_recv", messages, bare_drain, bare_send);
    report("actor send", messages, actor_send, bare_send);
    report("bare mpsc+oneshot request", asks, bare_ask, bare_ask);
    report("actor ask", asks, actor_ask, bare_ask);
}

fn median(rounds: usize, mut run: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..rounds.max(1)).map(|_| run()).collect();
    times.sort();
    times[times.len() / 2]
}

fn report(case: &str, count: u64, elapsed: Duration, baseline: Duration) {
    let rate = count as f64 / elapsed.as_secs_f64();
    let ratio = elapsed.as_secs_f64() / baseline.as_secs_f64();
    println!("{case:<28} {rate:>14.0} {ratio:>9.2}x");
}

async fn bare_send(messages: u64) -> Duration {
    let (sender, mut receiver) = mpsc::channel::<u64>(CAPACITY);
    let consumer = tokio::spawn(async move {
        let mut sum = 0u64;
        while let Some(value) = receiver.recv().await {
            sum += value;
        }
        sum
    });
    let start = Instant::now();
    for value in 0..messages {
        let _ = sender.send(value).await;
    }
    drop(sender);
    let sum = consumer.await.expect("consumer");
    let elapsed = start.elapsed();
    assert_eq!(sum, messages * (messages - 1) / 2);
    elapsed
}

/// The bare channel drained the way the actor loop drains its mailbox: `try_recv`
/// while messages are ready, `recv().await` only when it is empty.
async fn bare_send_draining(messages: u64) -> Duration {
    let (sender, mut receiver) = mpsc::channel::<u64>(CAPACITY);
    let consumer = tokio::spawn(async move {
        let mut sum = 0u64;
        loop {
            match receiver.try_recv() {
                Ok(value) => sum += value,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => match receiver.recv().await {
                    Some(value) => sum += value,
                    None => break,
                },
            }
        }
        sum
    });
    let start = Instant::now();
    for value in 0..messages {
        let _ = sender.send(value).await;
    }
    drop(sender);
    let sum = consumer.await.expect("consumer");
    let elapsed = start.elapsed();
    assert_eq!(sum, messages * (messages - 1) / 2);
    elapsed
}

async fn actor_send(messages: u64) -> Duration {
    let mut runtime = ActonApp::launch();
    let mut summer =
        runtime.new_actor_with_config::<u64>(ActorConfig::new("summer").mailbox_capacity(CAPACITY));
    summer
        .mutate_on::<Add>(|actor, ctx| {
            actor.model += ctx.message().0;
            Reply::ready()
        })
        .act_on::<Total>(|actor, ctx| {
            let total = actor.model;
            let reply = ctx.reply_envelope();
            Reply::pending(async move { reply.send(total).await })
        });
    let summer = summer.start().await;
    let start = Instant::now();
    for value in 0..messages {
        summer.send(Add(value)).await;
    }
    let sum: u64 = summer.ask(Total).await.expect("total");
    let elapsed = start.elapsed();
    assert_eq!(sum, messages * (messages - 1) / 2);
    runtime.shutdown_all().await.expect("shutdown");
    elapsed
}

async fn bare_ask(asks: u64) -> Duration {
    let (sender, mut requests) = mpsc::channel::<(u64, oneshot::Sender<u64>)>(CAPACITY);
    let server = tokio::spawn(async move {
        while let Some((value, reply)) = requests.recv().await {
            let _ = reply.send(value + 1);
        }
    });
    let start = Instant::now();
    for value in 0..asks {
        let (reply, answer) = oneshot::channel();
        let _ = sender.send((value, reply)).await;
        assert_eq!(answer.await.expect("answer"), value + 1);
    }
    let elapsed = start.elapsed();
    drop(sender);
    server.await.expect("server");
    elapsed
}

async fn actor_ask(asks: u64) -> Duration {
    let mut runtime = ActonApp::launch();
    let mut incrementer = runtime.new_actor::<()>();
    incrementer.act_on::<Add>(|_actor, ctx| {
        let next = ctx.message().0 + 1;
        let reply = ctx.reply_envelope();
        Reply::pending(async move { reply.send(next).await })
    });
    let incrementer = incrementer.start().await;
    let start = Instant::now();
    for value in 0..asks {
        let answer: u64 = incrementer.ask(Add(value)).await.expect("answer");
        assert_eq!(answer, value + 1);
    }
    let elapsed = start.elapsed();
    runtime.shutdown_all().await.expect("shutdown");
    elapsed
}
