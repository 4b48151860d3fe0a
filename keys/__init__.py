"""Key material: master key, signing keys (generate, rotate, publish), JWS, envelope encryption."""
