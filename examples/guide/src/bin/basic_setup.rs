//! "Basic Setup" from the IPC Setup guide, as written. The message and state types
//! come from the guide's "Using the IPC Macro" section.

use acton_reactive::prelude::*;

#[acton_message(ipc)]
struct MyRequest {
    query: String,
}

#[acton_message(ipc)]
struct MyResponse {
    result: String,
}

#[acton_actor]
struct MyState;

#[acton_main]
async fn main() -> anyhow::Result<()> {
    // 1. Launch runtime
    let mut runtime = ActonApp::launch();

    // 2. Get IPC type registry
    let registry = runtime.ipc_registry();

    // 3. Register message types
    registry.register::<MyRequest>("MyRequest");
    registry.register::<MyResponse>("MyResponse");

    // 4. Create and start actors
    let actor = runtime.new_actor::<MyState>().start().await;

    // 5. Expose actors via IPC
    runtime.ipc_expose("my_service", actor);

    // 6. Start IPC listener
    let listener = runtime.start_ipc_listener().await?;

    // Wait for shutdown signal
    tokio::signal::ctrl_c().await?;

    // 7. Clean shutdown
    listener.shutdown().await?;
    runtime.shutdown_all().await?;

    Ok(())
}
