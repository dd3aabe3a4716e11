"""The pure rules of the drop-in Judge0 API (its contract: ids, statuses, fields, Base64, and how
an answer is made from a run), shared by the API's routes (api/compat) and the callback
deliverer (callbacks/), which answers a Judge0 submission's callback_url in Judge0's form.
Imports only config and schemas."""
