FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY . /src
RUN pip install --no-cache-dir /src && rm -rf /src
EXPOSE 8000
CMD ["fieldcrm", "serve", "--host", "0.0.0.0", "--port", "8000"]
