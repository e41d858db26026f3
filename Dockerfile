# learnloop's prediction service: `learnloop serve MODEL` in a small image.
#
#   docker build -t learnloop-serve .
#   docker run --rm -p 8000:8000 -v "$PWD/model.skops:/models/model.skops:ro" learnloop-serve
#
# The model file is mounted at /models/model.skops (or copied there by an image built
# FROM this one); options after the image name replace CMD, e.g.
#   docker run ... learnloop-serve /models/model.skops --host 0.0.0.0 --token-file /run/secrets/token
# SIGTERM (docker stop) drains: requests in flight are answered, then the process exits 0.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/learnloop \
    && /opt/learnloop/bin/pip install --no-cache-dir --disable-pip-version-check ".[serve]"

FROM python:3.11-slim
# LightGBM needs OpenMP's runtime, which the slim image leaves out
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/learnloop /opt/learnloop
ENV PATH=/opt/learnloop/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 learnloop && mkdir /models && chown learnloop /models
USER learnloop
WORKDIR /home/learnloop
EXPOSE 8000
STOPSIGNAL SIGTERM
# readiness: 200 once the model is loaded (/health only says the process answers)
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2).status != 200)"]
ENTRYPOINT ["learnloop", "serve"]
CMD ["/models/model.skops", "--host", "0.0.0.0", "--port", "8000"]
