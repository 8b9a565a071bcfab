# The Neural Network Playground as a container: CPU-only PyTorch, the committed checkpoints, a non-root user.
#   docker build -t nn-playground .
#   docker run --rm -p 8501:8501 nn-playground        # then open http://localhost:8501
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

WORKDIR /app

# CPU-only torch first, from PyTorch's CPU index (PyPI's Linux wheels bundle CUDA: gigabytes we never use).
# Those wheels are versioned 2.14.1+cpu, which satisfies requirements.txt's torch==2.14.1 (PEP 440 ignores
# a local "+cpu" label when the pin has none), so the second install keeps them and takes the rest from PyPI.
COPY requirements.txt .
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
        torch==2.14.1 torchvision==0.29.1 \
    && pip install --no-cache-dir -r requirements.txt

# Code and checkpoints stay owned by root: the server's user can read them but not change them. Visitors'
# drawings (an SQLite file, when PLAYGROUND_DB_URL names no other database) go to /data, the one folder it
# owns: mount a volume there to keep them (docker run -v playground-data:/data ...).
COPY . .
RUN groupadd --gid 10001 playground \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin playground \
    && mkdir /data && chown 10001:10001 /data
ENV PLAYGROUND_FEEDBACK_DIR=/data
VOLUME ["/data"]
USER 10001:10001

EXPOSE 8501
# slim has no curl: ask Streamlit's health endpoint with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4).status != 200)"]

CMD ["python", "-m", "streamlit", "run", "app/main.py", "--server.port=8501", "--server.address=0.0.0.0", "--server.headless=true"]
