#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| beian_fuzz::platform_event(data));
