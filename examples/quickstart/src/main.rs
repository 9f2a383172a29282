//! A tour of the actor runtime in one process: a calculator answers requests and
//! streams a countdown, a price feed broadcasts to subscribers, and a graceful
//! shutdown handles everything already sent.

use acton_reactive::prelude::*;
use futures_util::StreamExt;

#[acton_message]
struct Add {
    a: i64,
    b: i64,
}

#[acton_message]
struct Countdown {
    from: u32,
}

#[acton_message]
struct PriceUpdate {
    symbol: String,
    price: f64,
}

#[acton_actor]
struct Ticker {
    last_seen: Vec<PriceUpdate>,
}

#[acton_main]
async fn main() -> anyhow::Result<()> {
    let mut runtime = ActonApp::launch();

    let mut calculator = runtime.new_actor_with_name::<u64>("calculator");
    calculator
        .mutate_on::<Add>(|actor, ctx| {
            actor.model += 1; // how many sums it has done
            let sum = ctx.message().a + ctx.message().b;
            let reply = ctx.reply_envelope();
            Reply::pending(async move { reply.send(sum).await })
        })
        .act_on::<Countdown>(|_actor, ctx| {
            let from = ctx.message().from;
            let reply = ctx.reply_envelope();
            Reply::pending(async move {
                for n in (0..=from).rev() {
                    reply.send(n).await;
                }
            })
        });
    let calculator = calculator.start().await;

    let sum: i64 = calculator.ask(Add { a: 40, b: 2 }).await?;
    println!("calculator: 40 + 2 = {sum}");

    let countdown: Vec<u32> = calculator
        .ask_stream::<u32>(Countdown { from: 5 }, 8)
        .await?
        .map(|n| n.map_err(anyhow::Error::from))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    println!("calculator: countdown {countdown:?}");

    let mut ticker = runtime.new_actor_with_name::<Ticker>("ticker");
    ticker
        .mutate_on::<PriceUpdate>(|actor, ctx| {
            let update = ctx.message().clone();
            println!("ticker: {} is now {:.2}", update.symbol, update.price);
            actor.model.last_seen.push(update);
            Reply::ready()
        })
        .before_stop(|actor| {
            println!(
                "ticker: saw {} updates before stopping",
                actor.model.last_seen.len()
            );
        });
    ticker.handle().subscribe::<PriceUpdate>().await;
    ticker.start().await;

    for (symbol, price) in [("ACME", 101.5), ("INIT", 12.25), ("ACME", 99.75)] {
        let reached = runtime
            .broker()
            .broadcast(PriceUpdate {
                symbol: symbol.to_owned(),
                price,
            })
            .await;
        assert_eq!(reached, 1);
    }

    runtime.shutdown_all().await?;
    println!("runtime: stopped cleanly");
    Ok(())
}
