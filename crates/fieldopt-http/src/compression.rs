//! Response compression when the client asks (`Accept-Encoding: gzip, br`),
//! for bodies worth it. Compression itself is actix-web's `Compress`; these
//! two middlewares sit just inside and just outside it to leave small
//! bodies alone, where the framing costs more than it saves.

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;

/// Bodies shorter than this go out as they are.
pub const MIN_COMPRESSED_BYTES: u64 = 1024;

/// Inside `Compress`: marks a small body as already encoded (`identity`),
/// which `Compress` leaves alone.
pub async fn keep_small_bodies_plain(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    if matches!(response.response().body().size(), BodySize::Sized(n) if n < MIN_COMPRESSED_BYTES) {
        response.headers_mut().insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    Ok(response)
}

/// Outside `Compress`: removes the `identity` mark again, which clients
/// should never see.
pub async fn drop_identity_mark(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    if response
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|value| value == "identity")
    {
        response.headers_mut().remove(header::CONTENT_ENCODING);
    }
    Ok(response)
}
