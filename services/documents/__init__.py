"""Electronic documents: forms and results as A4 PDFs with a verification QR code, PAdES signatures with the issuing
unit's certificate, and their validation against the configured trust roots (issue 23's foundation).

`pdf` renders HTML (the forms' pages) to PDF; `qr` builds and checks the verification link the QR code carries;
`signing` signs a PDF for a unit; `validation` judges a signed PDF; `certificates` says how a unit is named in its
certificate; `demo_ca` makes a demo CA and one PKCS#12 file per unit. Settings: `DocumentSettings`
(`MOTCUA_DOCUMENTS_*`). Every refusal is a `DocumentError` with a code.
"""
