//! Reading what the two-factor set-up page shows, as an authenticator app
//! does (the tests compute codes with `totp-lite`, not the server's code).

/// Decodes RFC 4648 base32 (no padding needed; spaces ignored).
pub fn base32_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let c = c.to_ascii_uppercase();
        let value = match c {
            'A'..='Z' => u32::from(c) - u32::from('A'),
            '2'..='7' => u32::from(c) - u32::from('2') + 26,
            _ => panic!("{c:?} is not base32 in {text:?}"),
        };
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).unwrap());
            buffer &= (1 << bits) - 1;
        }
    }
    out
}
