//! Every Rust snippet of the IPC Setup guide, pasted as written between the
//! `// ---- guide ----` and `// ---- end ----` markers, inside code that provides
//! what the snippet assumes and checks what it did.
//!
//! Snippets that use the default socket (`/tmp/acton.sock`) take `DEFAULT_SOCKET`
//! first, so they never run at the same time.

// Snippets are kept exactly as the guide prints them, style and all.
#![allow(
    unused_variables,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::uninlined_format_args
)]

use std::path::Path;

use acton_reactive::ipc::client::IpcClient;
use acton_reactive::prelude::*;

static DEFAULT_SOCKET: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---- guide: "Using the IPC Macro" (types) ----
#[acton_message(ipc)]
struct MyRequest {
    query: String,
}

#[acton_message(ipc)]
struct MyResponse {
    result: String,
}
// ---- end ----

// ---- guide: "Health Checks" (types) ----
#[acton_message(ipc)]
struct HealthCheck;

#[acton_message(ipc)]
struct HealthStatus {
    status: String,
}
// ---- end ----

#[acton_message(ipc)]
struct Request1;
#[acton_message(ipc)]
struct Response1;
#[acton_message(ipc)]
struct Request2;
#[acton_message(ipc)]
struct Response2;

#[acton_actor]
struct Calculator;

struct AppConfig {
    enable_calculator: bool,
}

fn socket_in_temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("acton-guide-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[tokio::test]
async fn using_the_ipc_macro_and_checking_registration() -> anyhow::Result<()> {
    let runtime = ActonApp::launch();

    // ---- guide: "Using the IPC Macro" (registration) ----
    // Register with string identifier
    let registry = runtime.ipc_registry();
    registry.register::<MyRequest>("MyRequest");
    registry.register::<MyResponse>("MyResponse");
    // ---- end ----

    // ---- guide: "Checking Registration" ----
    if registry.is_registered("MyRequest") {
        println!("Type is registered");
    }

    // List all registered types
    let types = registry.registered_types();
    println!("Registered types: {:?}", types);
    // ---- end ----

    assert!(registry.is_registered("MyResponse"));
    assert_eq!(types, ["MyRequest", "MyResponse"]);
    Ok(())
}

/// The snippet as written; its `?` needs a function that returns a `Result`.
async fn custom_configuration_snippet(
    runtime: &ActorRuntime,
) -> anyhow::Result<acton_reactive::ipc::IpcListenerHandle> {
    // ---- guide: "Custom Configuration" ----
    use acton_reactive::common::ipc::{IpcConfig, RateLimitConfig};
    use std::path::PathBuf;
    use std::time::Duration;

    let config = IpcConfig {
        socket_path: PathBuf::from("/var/run/myapp/acton.sock"),
        max_connections: 100,
        connection_timeout: Duration::from_secs(60),
        rate_limit: Some(RateLimitConfig {
            requests_per_second: 1000,
            burst_size: 50,
        }),
    };

    let listener = runtime.start_ipc_listener_with_config(config).await?;
    // ---- end ----
    Ok(listener)
}

#[tokio::test]
async fn custom_configuration() -> anyhow::Result<()> {
    let mut runtime = ActonApp::launch();
    // /var/run is writable only by root: elsewhere the snippet reports that.
    match custom_configuration_snippet(&runtime).await {
        Ok(listener) => {
            assert!(Path::new("/var/run/myapp/acton.sock").exists());
            listener.shutdown().await?;
            assert!(!Path::new("/var/run/myapp/acton.sock").exists());
            let _ = std::fs::remove_dir("/var/run/myapp");
        }
        Err(error) => match error.downcast_ref::<acton_reactive::ipc::IpcError>() {
            Some(acton_reactive::ipc::IpcError::Io { source, .. }) => {
                assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied);
            }
            _ => panic!("unexpected: {error}"),
        },
    }
    runtime.shutdown_all().await?;
    Ok(())
}

#[tokio::test]
async fn exposing_hiding_and_dynamic_exposure() -> anyhow::Result<()> {
    let runtime = ActonApp::launch();
    let calculator_handle = runtime.new_actor::<Calculator>().start().await;
    let kv_store_handle = runtime.new_actor::<Calculator>().start().await;
    let price_feed_handle = runtime.new_actor::<Calculator>().start().await;
    let calc_handle = runtime.new_actor::<Calculator>().start().await;
    let config = AppConfig {
        enable_calculator: true,
    };

    // ---- guide: "Basic Exposure" ----
    // Expose a single actor
    runtime.ipc_expose("calculator", calculator_handle);

    // Expose multiple actors
    runtime.ipc_expose("kv_store", kv_store_handle);
    runtime.ipc_expose("price_feed", price_feed_handle);
    // ---- end ----
    assert_eq!(
        runtime.ipc_exposed_names(),
        ["calculator", "kv_store", "price_feed"]
    );

    // ---- guide: "Hiding Actors" ----
    // Remove actor from IPC (but keep it running)
    runtime.ipc_hide("calculator");
    // ---- end ----
    assert_eq!(runtime.ipc_exposed_names(), ["kv_store", "price_feed"]);

    // ---- guide: "Dynamic Exposure" ----
    // Expose actors based on configuration
    if config.enable_calculator {
        runtime.ipc_expose("calculator", calc_handle);
    }
    // ---- end ----
    assert!(runtime
        .ipc_exposed_names()
        .contains(&"calculator".to_string()));
    Ok(())
}

#[tokio::test]
async fn register_types_at_startup_then_socket_cleanup() -> anyhow::Result<()> {
    let _default_socket = DEFAULT_SOCKET.lock().await;
    let runtime = ActonApp::launch();
    let registry = runtime.ipc_registry();

    // ---- guide: "1. Register Types at Startup" ----
    // Register all types before starting the listener
    registry.register::<Request1>("Request1");
    registry.register::<Response1>("Response1");
    registry.register::<Request2>("Request2");
    registry.register::<Response2>("Response2");

    // Then start listener
    let listener = runtime.start_ipc_listener().await?;
    // ---- end ----
    assert!(Path::new("/tmp/acton.sock").exists());
    listener.shutdown().await?;

    // ---- guide: "2. Socket Cleanup" ----
    // Check for stale sockets before starting
    let socket_path = Path::new("/tmp/acton.sock");
    if socket_path.exists() {
        std::fs::remove_file(socket_path)?;
    }

    // Start listener
    let listener = runtime.start_ipc_listener().await?;

    // On shutdown
    listener.shutdown().await?;
    // ---- end ----
    assert!(!socket_path.exists());
    Ok(())
}

#[tokio::test]
async fn connection_timeouts_and_rate_limiting() -> anyhow::Result<()> {
    use acton_reactive::common::ipc::{IpcConfig, RateLimitConfig};
    use std::time::Duration;

    // ---- guide: "3. Connection Timeouts" ----
    // Short timeout for request-response
    let config = IpcConfig {
        connection_timeout: Duration::from_secs(30),
        ..Default::default()
    };

    // Longer for subscriptions
    let config = IpcConfig {
        connection_timeout: Duration::from_secs(3600), // 1 hour
        ..Default::default()
    };
    // ---- end ----
    assert_eq!(config.connection_timeout, Duration::from_secs(3600));

    // ---- guide: "4. Rate Limiting" ----
    let config = IpcConfig {
        rate_limit: Some(RateLimitConfig {
            requests_per_second: 100,
            burst_size: 20,
        }),
        ..Default::default()
    };
    // ---- end ----

    // The configuration serves: a burst past 20 is refused.
    let mut runtime = ActonApp::launch();
    runtime
        .ipc_registry()
        .register::<HealthCheck>("HealthCheck");
    runtime
        .ipc_registry()
        .register::<HealthStatus>("HealthStatus");
    let mut actor = runtime.new_actor::<Calculator>();
    actor.act_on::<HealthCheck>(|_, ctx| {
        let reply = ctx.reply_envelope();
        Reply::pending(async move {
            reply
                .send(HealthStatus {
                    status: "ok".to_string(),
                })
                .await;
        })
    });
    runtime.ipc_expose("health", actor.start().await);
    let config = IpcConfig {
        socket_path: socket_in_temp("rate.sock"),
        ..config
    };
    let listener = runtime
        .start_ipc_listener_with_config(config.clone())
        .await?;
    let client = IpcClient::connect(&config.socket_path).await?;
    let answers = futures_join_all(&client, 40).await;
    let refused = answers.iter().filter(|refused| **refused).count();
    assert!((15..=25).contains(&refused), "{refused} of 40 refused");
    listener.shutdown().await?;
    runtime.shutdown_all().await?;
    Ok(())
}

/// Sends `n` health checks at once; true for each one refused as RATE_LIMITED.
async fn futures_join_all(client: &IpcClient, n: usize) -> Vec<bool> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let client = client.clone();
        tasks.spawn(async move {
            match client
                .request::<_, HealthStatus>("health", "HealthCheck", &HealthCheck)
                .await
            {
                Ok(status) => {
                    assert_eq!(status.status, "ok");
                    false
                }
                Err(error) => {
                    assert_eq!(
                        error.code().map(|c| c.as_str()),
                        Some("RATE_LIMITED"),
                        "{error}"
                    );
                    true
                }
            }
        });
    }
    let mut out = Vec::new();
    while let Some(done) = tasks.join_next().await {
        out.push(done.unwrap());
    }
    out
}

#[tokio::test]
async fn health_checks() -> anyhow::Result<()> {
    let mut runtime = ActonApp::launch();
    let registry = runtime.ipc_registry();
    let mut actor = runtime.new_actor::<Calculator>();

    // ---- guide: "5. Health Checks" (registration and handler) ----
    registry.register::<HealthCheck>("HealthCheck");
    registry.register::<HealthStatus>("HealthStatus");

    actor.act_on::<HealthCheck>(|_, ctx| {
        let reply = ctx.reply_envelope();
        Reply::pending(async move {
            reply
                .send(HealthStatus {
                    status: "ok".to_string(),
                })
                .await;
        })
    });
    // ---- end ----

    let handle = actor.start().await;
    runtime.ipc_expose("service", handle.clone());
    let status: HealthStatus = handle.ask(HealthCheck).await?;
    assert_eq!(status.status, "ok");

    let path = socket_in_temp("health.sock");
    let listener = runtime
        .start_ipc_listener_with_config(acton_reactive::common::ipc::IpcConfig {
            socket_path: path.clone(),
            ..Default::default()
        })
        .await?;
    let client = IpcClient::connect(&path).await?;
    let status: HealthStatus = client
        .request("service", "HealthCheck", &HealthCheck)
        .await?;
    assert_eq!(status.status, "ok");
    listener.shutdown().await?;
    runtime.shutdown_all().await?;
    Ok(())
}

#[tokio::test]
async fn the_basic_setup_program_serves_and_stops_on_ctrl_c() -> anyhow::Result<()> {
    let _default_socket = DEFAULT_SOCKET.lock().await;
    let socket = Path::new("/tmp/acton.sock");
    let mut program = tokio::process::Command::new(env!("CARGO_BIN_EXE_basic_setup"))
        .kill_on_drop(true)
        .spawn()?;

    let client = connect_when_ready(socket).await;
    let found = client.discover().await?;
    let actors = found.actors.unwrap_or_default();
    assert_eq!(
        actors.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["my_service"]
    );
    assert_eq!(
        found.message_types.unwrap_or_default(),
        ["MyRequest", "MyResponse"]
    );
    // The guide's actor has no handler yet: the server says so, and keeps serving.
    let error = client
        .request::<_, MyResponse>("my_service", "MyRequest", &MyRequest { query: "q".into() })
        .await
        .unwrap_err();
    assert_eq!(
        error.code().map(|c| c.as_str()),
        Some("UNKNOWN_MESSAGE_TYPE")
    );

    let pid = program.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()?;
    assert!(status.success());
    let exit = tokio::time::timeout(std::time::Duration::from_secs(10), program.wait()).await??;
    assert!(exit.success(), "{exit:?}");
    assert!(
        !socket.exists(),
        "the listener's shutdown removes the socket"
    );
    Ok(())
}

async fn connect_when_ready(socket: &Path) -> IpcClient {
    for _ in 0..200 {
        if let Ok(client) = IpcClient::connect(socket).await {
            return client;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the program never listened on {}", socket.display());
}
