"""The limits and choices rowgate's surfaces state and enforce, in one module that imports nothing: the Function
App's decorators read them at indexing (OpenAPI notes, route parameters) without loading the core."""

MAX_ROWS = 1000  # rows in one batch insert
MAX_BYTES = 4 * 1024 * 1024  # a request body larger than this is refused before it is parsed
MAX_PAGE = 1000  # rows or rejections in one page
MAX_RECENT = 1000  # courses in one recent-courses answer
MAX_UPLOAD_NAME_CHARS = 120  # an uploaded file's name
REJECTION_STATUSES = ("open", "resolved", "all")
UPLOAD_BLOCK_BYTES = 4 * 1024 * 1024  # an upload's block: below the dev host's 8 MiB body limit and far below Azure's 100 MB
MAX_UPLOAD_BLOCKS = 50_000  # Put Block List takes at most 50,000 blocks: 195 GiB in blocks of 4 MiB
LAST_LOADS = 5  # loads the overview shows per table unless asked for more
SQLITE_PARAMETERS = 999  # the most one SQLite statement takes on every version (3.32 and later take 32,766)
