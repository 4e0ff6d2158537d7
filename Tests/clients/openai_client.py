"""The official `openai` client against our /v1/embeddings: float, base64, dimensions, token ids."""
import math
import struct
import sys

from openai import OpenAI

base_url, api_key = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url + "/v1", api_key=api_key)

texts = ["The capital of China is Beijing.", "Gravity attracts bodies."]
floats = client.embeddings.create(model="tiny", input=texts, encoding_format="float")
assert len(floats.data) == 2, floats
assert [d.index for d in floats.data] == [0, 1]
hidden = len(floats.data[0].embedding)
assert hidden == 40, hidden
for d in floats.data:
    norm = math.sqrt(sum(x * x for x in d.embedding))
    assert abs(norm - 1) < 1e-4, norm
assert floats.usage.prompt_tokens > 0 and floats.usage.total_tokens == floats.usage.prompt_tokens

# The client asks for base64 by default when encoding_format is omitted, and decodes it itself.
default = client.embeddings.create(model="tiny", input=texts)
# JSON floats are the shortest decimal that round-trips a float32: rounding them to float32 must give
# exactly the base64 values.
as_f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]
for a, b in zip(default.data, floats.data):
    assert a.embedding == [as_f32(x) for x in b.embedding], "base64 and float embeddings differ"

short = client.embeddings.create(model="tiny", input="hello", dimensions=32)
assert len(short.data[0].embedding) == 32

ids = client.embeddings.create(model="tiny", input=[[9707, 1879, 151643]], encoding_format="float")
assert len(ids.data[0].embedding) == hidden

try:
    client.embeddings.create(model="tiny", input="hello", dimensions=7)
    raise SystemExit("dimensions=7 should have failed")
except Exception as error:  # openai.UnprocessableEntityError
    assert getattr(error, "status_code", None) == 422, error

print("openai client: ok")
