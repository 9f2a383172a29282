//! A handler method must answer with its method's reply type.

use acton_reactive::ipc::service::{RequestContext, Status};
use example_messages::{AddRequest, CalculatorHandler, Counted};

struct Calculator;

impl CalculatorHandler for Calculator {
    async fn add(&self, _ctx: RequestContext, request: AddRequest) -> Result<Counted, Status> {
        Ok(Counted {
            value: request.a as u32,
        })
    }
}

fn main() {}
