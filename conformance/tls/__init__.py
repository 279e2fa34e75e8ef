"""Raw TLS probing: the kit's own ClientHello, independent of the local OpenSSL build."""
