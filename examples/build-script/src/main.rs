//! The example schema's code, generated at build time by `build.rs` and pulled in
//! with `include!`: a calculator served and called in one program.

use acton_reactive::ipc::service::StreamSink;
use acton_reactive::ipc::IpcConfig;
use acton_reactive::prelude::*;

/// The generated code.
pub mod messages {
    include!(concat!(env!("OUT_DIR"), "/messages.rs"));
}

use messages::{
    AddRequest, AddResponse, CalculatorClient, CalculatorHandler, CountRequest, Counted,
    HealthCheck, HealthStatus, LogEvent,
};

struct Calculator;

impl CalculatorHandler for Calculator {
    async fn add(&self, request: AddRequest) -> AddResponse {
        AddResponse {
            sum: request.a + request.b,
        }
    }

    async fn count(&self, request: CountRequest, items: StreamSink<Counted>) {
        for value in 0..request.up_to {
            if items.send(Counted { value }).await.is_err() {
                break;
            }
        }
    }

    async fn log(&self, request: LogEvent) {
        println!("log: {}", request.line);
    }

    async fn health(&self, _request: HealthCheck) -> HealthStatus {
        HealthStatus {
            status: "ok".into(),
            uptime_ms: 0,
        }
    }
}

#[acton_main]
async fn main() -> anyhow::Result<()> {
    let mut runtime = ActonApp::launch();
    messages::serve_calculator(&runtime, Calculator).await;
    let socket =
        std::env::temp_dir().join(format!("acton-build-script-{}.sock", std::process::id()));
    let listener = runtime
        .start_ipc_listener_with_config(IpcConfig {
            socket_path: socket.clone(),
            ..IpcConfig::default()
        })
        .await?;

    let calculator = CalculatorClient::connect(&socket).await?;
    let sum = calculator.add(AddRequest { a: 1, b: 2 }).await?;
    println!("1 + 2 = {}", sum.sum);
    assert_eq!(sum.sum, 3);

    listener.shutdown().await?;
    runtime.shutdown_all().await?;
    Ok(())
}
