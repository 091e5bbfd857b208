// The RESP codec. See RESPValue, RESPDecoder and RESPEncoder.
