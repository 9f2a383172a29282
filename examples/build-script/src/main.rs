//! The example schema's code, generated at build time by `build.rs` and pulled in
//! with `include!`: a calculator served and called in one program.

use acton_reactive::ipc::protocol::ErrorCode;
use acton_reactive::ipc::service::{RequestContext, Status, StreamSink};
use acton_reactive::ipc::IpcConfig;
use acton_reactive::prelude::*;

/// The generated code.
pub mod messages {
    include!(concat!(env!("OUT_DIR"), "/messages.rs"));
}

use messages::{
    AddRequest, AddResponse, CalculatorClient, CalculatorHandler, CountRequest, Counted,
    DivideError, DivideRequest, HealthCheck, HealthStatus, LogEvent,
};

struct Calculator;

/// Implements only some of the methods: the others (`divide`, `factorials`) keep
/// their default, which answers UNIMPLEMENTED, so methods added to the schema do
/// not break this program.
impl CalculatorHandler for Calculator {
    async fn add(&self, _ctx: RequestContext, request: AddRequest) -> Result<AddResponse, Status> {
        Ok(AddResponse {
            sum: request.a + request.b,
        })
    }

    async fn count(
        &self,
        _ctx: RequestContext,
        request: CountRequest,
        items: StreamSink<Counted>,
    ) -> Result<(), Status> {
        for value in 0..request.up_to {
            if items.send(Counted { value }).await.is_err() {
                break;
            }
        }
        Ok(())
    }

    async fn log(&self, _ctx: RequestContext, request: LogEvent) {
        println!("log: {}", request.line);
    }

    async fn health(
        &self,
        _ctx: RequestContext,
        _request: HealthCheck,
    ) -> Result<HealthStatus, Status> {
        Ok(HealthStatus {
            status: "ok".into(),
            uptime_ms: 0,
            active_streams: 0,
        })
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
    let unimplemented = calculator
        .divide(DivideRequest {
            dividend: 1,
            divisor: 1,
        })
        .await;
    match unimplemented {
        Err(DivideError::Status(status)) => {
            assert_eq!(status.protocol_code(), Some(ErrorCode::Unimplemented));
            println!("divide: {status}");
        }
        other => anyhow::bail!("expected UNIMPLEMENTED, got {other:?}"),
    }

    listener.shutdown().await?;
    runtime.shutdown_all().await?;
    Ok(())
}
