//! A handler method fails only with its method's declared errors (or a Status).

use acton_reactive::ipc::service::RequestContext;
use example_messages::{DivisionByZero, Get, GetError, GetResult, KvStoreHandler};

struct Store;

impl KvStoreHandler for Store {
    async fn get(&self, _ctx: RequestContext, _request: Get) -> Result<GetResult, GetError> {
        // `get` declares NotFound, not DivisionByZero.
        Err(DivisionByZero { dividend: 1 }.into())
    }
}

fn main() {}
