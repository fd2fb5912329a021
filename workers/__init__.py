"""SAQ settings and jobs: they run beside the request path, through tables/ and domain/."""
