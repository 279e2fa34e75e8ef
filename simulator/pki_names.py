"""Names of the test PKI that a command line shows before any certificate is read (no cryptography import:
``s24kit pki --help`` needs them)."""

#: Server certificates issued for a vendor's own test host (``s24kit pki issue``) live in this subfolder.
ISSUED = "issued"
KEY_TYPES = ("ec", "rsa")
#: The default password of exported PKCS#12 files: Java's customary one, for test keys only.
DEFAULT_PASSWORD = "changeit"
