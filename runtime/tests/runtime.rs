//! Pins the actor runtime's behaviour: ordering, concurrency, replies, broker,
//! backpressure, shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use acton_reactive::broker::BroadcastObserver;
use acton_reactive::prelude::*;
use futures_util::StreamExt;
use tokio::sync::{Barrier, Notify};

const PATIENCE: Duration = Duration::from_secs(10);

#[acton_message]
struct Push(u32);

#[acton_message]
struct Get;

#[acton_message]
struct Count(u32);

#[acton_message]
struct Silent;

#[acton_message]
struct Wait(Arc<Barrier>);

async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("the runtime did not answer in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutate_on_handles_messages_one_at_a_time_in_mailbox_order() {
    let mut runtime = ActonApp::launch();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut actor = runtime.new_actor::<Vec<u32>>();
    let record = Arc::clone(&seen);
    actor
        .mutate_on::<Push>(move |actor, ctx| {
            let n = ctx.message().0;
            actor.model.push(n);
            let record = Arc::clone(&record);
            // Every other handler finishes asynchronously after yielding: the next
            // message must still wait for it.
            Reply::pending(async move {
                if n % 2 == 0 {
                    tokio::task::yield_now().await;
                    tokio::time::sleep(Duration::from_micros(50)).await;
                }
                record.lock().unwrap().push(n);
            })
        })
        .act_on::<Get>(|actor, ctx| {
            let model = actor.model.clone();
            let reply = ctx.reply_envelope();
            Reply::pending(async move { reply.send(model).await })
        });
    let actor = actor.start().await;

    for n in 0..500 {
        actor.send(Push(n)).await;
    }
    let state: Vec<u32> = within(actor.ask(Get)).await.unwrap();
    let expected: Vec<u32> = (0..500).collect();
    assert_eq!(state, expected);
    assert_eq!(
        *seen.lock().unwrap(),
        expected,
        "async parts ran out of order"
    );
    runtime.shutdown_all().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn act_on_futures_run_concurrently() {
    let mut runtime = ActonApp::launch();
    let mut actor = runtime.new_actor::<()>();
    actor.act_on::<Wait>(|_actor, ctx| {
        let barrier = Arc::clone(&ctx.message().0);
        let reply = ctx.reply_envelope();
        Reply::pending(async move {
            barrier.wait().await;
            reply.send(()).await;
        })
    });
    let actor = actor.start().await;

    // Three handlers meet at one barrier: none can finish unless all run at once.
    let barrier = Arc::new(Barrier::new(3));
    let asks = (0..3).map(|_| actor.ask::<()>(Wait(Arc::clone(&barrier))));
    let replies = within(futures_util::future::join_all(asks)).await;
    assert!(replies.iter().all(Result::is_ok), "{replies:?}");
    runtime.shutdown_all().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutating_handler_waits_for_its_future_but_act_on_futures_keep_going() {
    let mut runtime = ActonApp::launch();
    let gate = Arc::new(Notify::new());
    let mut actor = runtime.new_actor::<u32>();
    let opened = Arc::clone(&gate);
    actor
        // The act_on future opens the gate that the mutating future waits on; with a
        // loop that stopped polling act_on futures this would deadlock.
        .act_on::<Get>(move |_actor, _ctx| {
            let opened = Arc::clone(&opened);
            Reply::pending(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                opened.notify_one();
            })
        })
        .mutate_on::<Push>({
            let gate = Arc::clone(&gate);
            move |actor, ctx| {
                actor.model += ctx.message().0;
                let gate = Arc::clone(&gate);
                let reply = ctx.reply_envelope();
                Reply::pending(async move {
                    gate.notified().await;
                    reply.send(()).await;
                })
            }
        });
    let actor = actor.start().await;
    actor.send(Get).await;
    within(actor.ask::<()>(Push(1))).await.unwrap();
    runtime.shutdown_all().await.unwrap();
}

#[tokio::test]
async fn ask_reports_each_way_a_reply_can_fail() {
    let mut runtime = ActonApp::launch();
    let mut actor = runtime.new_actor_with_name::<u32>("oracle");
    actor
        .act_on::<Get>(|actor, ctx| {
            let value = actor.model;
            let reply = ctx.reply_envelope();
            Reply::pending(async move { reply.send(value).await })
        })
        .act_on::<Silent>(|_actor, _ctx| Reply::ready());
    let actor = actor.start().await;

    assert_eq!(actor.ask::<u32>(Get).await, Ok(0));
    assert_eq!(
        actor.ask::<u32>(Silent).await,
        Err(AskError::NoReply {
            actor: "oracle".into()
        })
    );
    assert!(matches!(
        actor.ask::<u32>(Push(1)).await,
        Err(AskError::NoHandler { actor, message_type }) if actor == "oracle" && message_type.ends_with("Push")
    ));
    assert_eq!(
        actor.ask::<String>(Get).await,
        Err(AskError::UnexpectedReply {
            expected: "alloc::string::String",
            actual: "u32"
        })
    );
    runtime.shutdown_all().await.unwrap();
    assert!(matches!(
        actor.ask::<u32>(Get).await,
        Err(AskError::Send(SendError::Stopped { .. }))
    ));
}

#[tokio::test]
async fn several_replies_form_a_stream_that_ends_when_the_envelope_drops() {
    let mut runtime = ActonApp::launch();
    let mut actor = runtime.new_actor::<()>();
    actor.act_on::<Count>(|_actor, ctx| {
        let up_to = ctx.message().0;
        let reply = ctx.reply_envelope();
        let second = ctx.reply_envelope();
        Reply::pending(async move {
            for n in 0..up_to {
                // Replies may come through any clone of the envelope.
                if n % 2 == 0 {
                    reply.send(n).await;
                } else {
                    second.send(n).await;
                }
            }
        })
    });
    let actor = actor.start().await;

    let stream = actor.ask_stream::<u32>(Count(100), 4).await.unwrap();
    let items: Vec<u32> = within(stream.map(Result::unwrap).collect()).await;
    assert_eq!(items, (0..100).collect::<Vec<_>>());

    let mut empty = actor.ask_stream::<u32>(Count(0), 4).await.unwrap();
    assert!(within(empty.next_reply()).await.is_none());
    runtime.shutdown_all().await.unwrap();
}

#[tokio::test]
async fn a_dropped_stream_tells_the_handler_nobody_listens() {
    let mut runtime = ActonApp::launch();
    let produced = Arc::new(AtomicUsize::new(0));
    let mut actor = runtime.new_actor::<()>();
    let counter = Arc::clone(&produced);
    actor.act_on::<Count>(move |_actor, ctx| {
        let reply = ctx.reply_envelope();
        let counter = Arc::clone(&counter);
        Reply::pending(async move {
            while reply.deliver(1u32).await.is_ok() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            assert!(reply.is_closed());
        })
    });
    let actor = actor.start().await;
    let mut stream = actor.ask_stream::<u32>(Count(0), 1).await.unwrap();
    assert_eq!(within(stream.next_reply()).await, Some(Ok(1)));
    drop(stream);
    // The handler ends by itself; shutdown would time out otherwise.
    within(runtime.shutdown_all()).await.unwrap();
    assert!(produced.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn replies_can_go_to_another_actor() {
    let mut runtime = ActonApp::launch();
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    let mut collector = runtime.new_actor::<()>();
    collector.act_on::<u32>(move |_actor, ctx| {
        let _ = sender.send(*ctx.message());
        Reply::ready()
    });
    let collector = collector.start().await;

    let mut answerer = runtime.new_actor::<()>();
    answerer.act_on::<Get>(|_actor, ctx| {
        let reply = ctx.reply_envelope();
        Reply::pending(async move { reply.send(42u32).await })
    });
    let answerer = answerer.start().await;
    answerer.send_with_reply_to(Get, &collector).await.unwrap();
    assert_eq!(within(received.recv()).await, Some(42));
    runtime.shutdown_all().await.unwrap();
}

#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl BroadcastObserver for Seen {
    fn on_broadcast(&self, message: &dyn ActonMessage) {
        self.0
            .lock()
            .expect("observer lock")
            .push(message.type_name().to_owned());
    }
}

#[tokio::test]
async fn broadcasts_reach_every_subscriber_and_observer() {
    let mut runtime = ActonApp::launch();
    let total = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..3 {
        let mut subscriber = runtime.new_actor::<()>();
        let total = Arc::clone(&total);
        subscriber.act_on::<Push>(move |_actor, ctx| {
            total.fetch_add(ctx.message().0 as usize, Ordering::SeqCst);
            Reply::ready()
        });
        subscriber.handle().subscribe::<Push>().await;
        handles.push(subscriber.start().await);
    }
    let bystander = runtime.new_actor::<()>().start().await;
    bystander.subscribe::<Get>().await;

    let observer = Arc::new(Seen::default());
    let guard = runtime.broker().observe(observer.clone());

    assert_eq!(runtime.broker().subscriber_count::<Push>(), 3);
    assert_eq!(runtime.broker().broadcast(Push(10)).await, 3);

    handles[0].unsubscribe::<Push>().await;
    handles[1].stop().await;
    assert_eq!(runtime.broker().broadcast(Push(1)).await, 1);
    assert_eq!(runtime.broker().subscriber_count::<Push>(), 1);

    drop(guard);
    runtime.broker().broadcast(Push(100)).await;

    for handle in &handles {
        handle.stop().await;
    }
    assert_eq!(total.load(Ordering::SeqCst), 3 * 10 + 1 + 100);
    let seen = observer.0.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        2,
        "the observer stops seeing broadcasts once its guard drops"
    );
    assert!(seen.iter().all(|name| name.ends_with("Push")));
    runtime.shutdown_all().await.unwrap();
}

#[tokio::test]
async fn a_full_mailbox_is_reported_as_target_busy() {
    let mut runtime = ActonApp::launch();
    let gate = Arc::new(Notify::new());
    let mut actor =
        runtime.new_actor_with_config::<u32>(ActorConfig::new("narrow").mailbox_capacity(2));
    let opened = Arc::clone(&gate);
    actor.mutate_on::<Push>(move |actor, _ctx| {
        actor.model += 1;
        let opened = Arc::clone(&opened);
        Reply::pending(async move { opened.notified().await })
    });
    actor.act_on::<Get>(|actor, ctx| {
        let count = actor.model;
        let reply = ctx.reply_envelope();
        Reply::pending(async move { reply.send(count).await })
    });
    let actor = actor.start().await;

    actor.send(Push(0)).await; // taken by the loop, which then waits on the gate
    tokio::time::sleep(Duration::from_millis(20)).await;
    actor.try_send(Push(1)).unwrap();
    actor.try_send(Push(2)).unwrap();
    assert_eq!(
        actor.try_send(Push(3)),
        Err(SendError::TargetBusy {
            actor: "narrow".into(),
            capacity: 2
        })
    );
    let busy = SendError::TargetBusy {
        actor: "narrow".into(),
        capacity: 2,
    };
    assert!(busy.to_string().contains("busy"), "{busy}");

    for _ in 0..3 {
        gate.notify_one();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(within(actor.ask::<u32>(Get)).await, Ok(3));
    runtime.shutdown_all().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_handles_every_accepted_message_before_returning() {
    let mut runtime = ActonApp::launch();
    let handled = Arc::new(AtomicUsize::new(0));
    let streamed = Arc::new(AtomicUsize::new(0));
    let order = Arc::new(Mutex::new(Vec::new()));

    let mut slow =
        runtime.new_actor_with_config::<()>(ActorConfig::new("slow").mailbox_capacity(1000));
    {
        let handled = Arc::clone(&handled);
        let streamed = Arc::clone(&streamed);
        slow.mutate_on::<Push>(move |_actor, _ctx| {
            let handled = Arc::clone(&handled);
            Reply::pending(async move {
                tokio::time::sleep(Duration::from_micros(200)).await;
                handled.fetch_add(1, Ordering::SeqCst);
            })
        })
        .act_on::<Count>(move |_actor, _ctx| {
            let streamed = Arc::clone(&streamed);
            Reply::pending(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                streamed.fetch_add(1, Ordering::SeqCst);
            })
        });
    }
    let order_stop = Arc::clone(&order);
    let handled_at_stop = Arc::clone(&handled);
    slow.before_stop(move |_actor| {
        order_stop
            .lock()
            .unwrap()
            .push(handled_at_stop.load(Ordering::SeqCst));
    });
    let slow = slow.start().await;

    for _ in 0..5 {
        slow.send(Count(0)).await;
    }
    for n in 0..300 {
        slow.send(Push(n)).await;
    }
    within(runtime.shutdown_all()).await.unwrap();

    assert_eq!(
        handled.load(Ordering::SeqCst),
        300,
        "accepted messages were lost"
    );
    assert_eq!(
        streamed.load(Ordering::SeqCst),
        5,
        "in-flight act_on futures were dropped"
    );
    assert_eq!(
        *order.lock().unwrap(),
        vec![300],
        "before_stop ran before the mailbox drained"
    );
    assert!(!slow.is_running());
    assert_eq!(runtime.actor_count(), 0);
    assert!(matches!(
        slow.deliver(Push(0)).await,
        Err(SendError::Stopped { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_task_outlives_shutdown() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();

    let mut runtime = ActonApp::launch();
    let mut parents = Vec::new();
    for _ in 0..20 {
        let mut actor = runtime.new_actor::<u32>();
        actor.mutate_on::<Push>(|actor, ctx| {
            actor.model += ctx.message().0;
            Reply::ready()
        });
        let parent = actor.start().await;
        runtime
            .new_child_actor::<()>(&parent, "child")
            .start()
            .await;
        parents.push(parent);
    }
    for parent in &parents {
        parent.send(Push(1)).await;
    }
    assert_eq!(runtime.actor_count(), 40);
    runtime.shutdown_all().await.unwrap();
    assert_eq!(runtime.actor_count(), 0);
    // Tasks are counted until their last poll returns; give the executor a moment.
    for _ in 0..100 {
        if metrics.num_alive_tasks() == before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(metrics.num_alive_tasks(), before);
}

#[tokio::test]
async fn shutdown_cancels_actors_that_outlive_the_timeout() {
    let mut runtime =
        ActonApp::launch_with(RuntimeConfig::default().shutdown_timeout(Duration::from_millis(50)));
    let mut stuck = runtime.new_actor::<()>();
    stuck.mutate_on::<Silent>(|_actor, _ctx| Reply::pending(std::future::pending()));
    let stuck = stuck.start().await;
    let responsive = runtime.new_actor::<()>().start().await;
    stuck.send(Silent).await;

    let outcome = within(runtime.shutdown_all()).await;
    assert_eq!(
        outcome,
        Err(ShutdownError::Timeout {
            stragglers: 1,
            timeout: Duration::from_millis(50)
        })
    );
    assert!(!stuck.is_running() && !responsive.is_running());
    within(stuck.stopped()).await;
}

#[tokio::test]
async fn children_stop_with_their_parent_and_before_its_hook() {
    let mut runtime = ActonApp::launch();
    let log = Arc::new(Mutex::new(Vec::new()));

    let mut parent = runtime.new_actor_with_name::<()>("parent");
    let parent_log = Arc::clone(&log);
    parent.before_stop(move |_| parent_log.lock().unwrap().push("parent".to_owned()));
    let parent = parent.start().await;

    for name in ["alpha", "beta"] {
        let mut child = runtime.new_child_actor::<()>(&parent, name);
        assert_eq!(child.name(), format!("parent/{name}"));
        let child_log = Arc::clone(&log);
        child.before_stop(move |actor| child_log.lock().unwrap().push(actor.name().to_owned()));
        child.start().await;
    }
    assert_eq!(parent.children().len(), 2);

    within(parent.stop()).await;
    let mut log = log.lock().unwrap().clone();
    assert_eq!(log.pop().as_deref(), Some("parent"));
    log.sort();
    assert_eq!(log, ["parent/alpha", "parent/beta"]);
    runtime.shutdown_all().await.unwrap();
}

#[tokio::test]
async fn a_panicking_handler_does_not_stop_the_actor() {
    let mut runtime = ActonApp::launch();
    let mut actor = runtime.new_actor::<u32>();
    actor
        .mutate_on::<Push>(|actor, ctx| {
            assert!(ctx.message().0 != 13, "unlucky");
            actor.model += 1;
            Reply::ready()
        })
        .act_on::<Silent>(|_actor, _ctx| Reply::pending(async { panic!("in the future") }))
        .act_on::<Get>(|actor, ctx| {
            let count = actor.model;
            let reply = ctx.reply_envelope();
            Reply::pending(async move { reply.send(count).await })
        });
    let actor = actor.start().await;
    actor.send(Push(13)).await;
    actor.send(Silent).await;
    actor.send(Push(1)).await;
    assert_eq!(within(actor.ask::<u32>(Get)).await, Ok(1));
    assert!(actor.is_running());
    runtime.shutdown_all().await.unwrap();
}

#[tokio::test]
async fn after_start_runs_before_the_first_message() {
    let mut runtime = ActonApp::launch();
    let mut actor = runtime.new_actor::<Vec<&'static str>>();
    actor
        .after_start(|actor| actor.model.push("started"))
        .mutate_on::<Push>(|actor, _ctx| {
            actor.model.push("message");
            Reply::ready()
        })
        .act_on::<Get>(|actor, ctx| {
            let log = actor.model.clone();
            let reply = ctx.reply_envelope();
            Reply::pending(async move { reply.send(log).await })
        });
    // Sent before the start: waits in the mailbox.
    actor.handle().send(Push(0)).await;
    let actor = actor.start().await;
    assert_eq!(
        within(actor.ask::<Vec<&'static str>>(Get)).await.unwrap(),
        ["started", "message"]
    );
    runtime.shutdown_all().await.unwrap();
}
