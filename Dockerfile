FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY tables tables
COPY resolvers resolvers
COPY schema schema
COPY workers workers
COPY server server
COPY extensions extensions
RUN pip install --no-cache-dir .
ENV TG_ENV=production HOST=0.0.0.0 PORT=8000
EXPOSE 8000
CMD ["tenantgraph", "serve"]
