//! Whether the client of a request is still there.
//!
//! actix-web keeps running a handler after its client has closed the
//! connection. Long work (a day plan) asks [`client_gone`] now and then and
//! stops early: nobody would read its answer.

use std::any::Any;
use std::mem::MaybeUninit;
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;

/// A second handle on a connection's socket, kept with the connection.
#[derive(Debug, Clone)]
struct PeerSocket(Arc<socket2::Socket>);

/// `HttpServer::on_connect` hook: remembers the socket of each TCP
/// connection.
pub fn remember_socket(connection: &dyn Any, data: &mut Extensions) {
    if let Some(stream) = connection.downcast_ref::<TcpStream>()
        && let Ok(socket) = socket2::SockRef::from(stream).try_clone()
    {
        data.insert(PeerSocket(Arc::new(socket)));
    }
}

/// Whether the client closed its side of the connection (a peek at the
/// socket reads end-of-file). `false` when it cannot tell.
pub fn client_gone(req: &HttpRequest) -> bool {
    req.conn_data::<PeerSocket>().is_some_and(|socket| {
        let mut byte = [MaybeUninit::uninit()];
        // The socket is non-blocking: no data yet is `WouldBlock`.
        matches!(socket.0.peek(&mut byte), Ok(0))
    })
}
