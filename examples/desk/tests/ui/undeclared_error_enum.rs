//! A handler method's error type is the one the schema gives it.

use acton_reactive::ipc::service::{RequestContext, Status};
use example_messages::{Get, GetResult, KvStoreHandler};

struct Store;

impl KvStoreHandler for Store {
    // `get` declares errors: its error type is GetError, not Status.
    async fn get(&self, _ctx: RequestContext, _request: Get) -> Result<GetResult, Status> {
        Err(Status::internal("no"))
    }
}

fn main() {}
