//! Local fakes of the identity vendors (Tencent Cloud FaceID, Alibaba Cloud Cloudauth) for
//! tests and development — never a production component: `beian-vendor-fakes
//! tencent|aliyun SECRET_ID SECRET_KEY` prints `listening on http://127.0.0.1:PORT` and serves
//! until killed (see `beian_vendors::fakes`).

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = beian_vendors::fakes::main_with_args(std::env::args().skip(1).collect()).await {
        eprintln!("{e}");
        std::process::exit(2);
    }
}
