#!/usr/bin/env bash
# Install what dlc needs on Debian (bookworm) and build it into ./build.
#   scripts/setup.sh            packages + build
#   scripts/setup.sh --no-apt   build only
set -euo pipefail
cd "$(dirname "$0")/.."

# gnuplot-nox: scripts/plot_log.sh (PNG training curves), scripts/rosenbrock_paths.sh,
# scripts/grad_sweep.sh; graphviz: scripts/dot_values.sh (the graph of one step)
# python3-sklearn: the CSVs of examples/iris.dl, wine.dl, breast_cancer.dl and
# digits.dl (/usr/lib/python3/dist-packages/sklearn/datasets/data)
# llvm-14-dev, libclang-14-dev, libclang-cpp14-dev (with clang-14, which clang
# pulls in): the LLVM JIT of `dlc run`; without them dlc builds without it
# fortunes: a character-level text corpus in /usr/share/games/fortunes (text(...) data)
# wamerican: the word list /usr/share/dict/american-english (reverse_words(...) data,
# examples/seq2seq_attention.dl)
# libclang-rt-14-dev: clang's libFuzzer and sanitizer runtimes (-DDLC_FUZZ=ON, docs/fuzzing.md)
# openmpi-bin, libopenmpi-dev (openssh-client: mpirun's launcher for other hosts):
# data-parallel trainers, dlc --mpi (docs/mpi.md); without them dlc builds without it
packages=(build-essential cmake flex bison zlib1g-dev clang python3 python3-numpy python3-torch
          dataset-fashion-mnist llvm-14-dev libclang-14-dev libclang-cpp14-dev libopenblas-dev gnuplot-nox
          python3-sklearn graphviz fortunes wamerican libclang-rt-14-dev openmpi-bin libopenmpi-dev openssh-client)

if [ "${1:-}" != "--no-apt" ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDLC_REQUIRE_LLVM=ON -DDLC_REQUIRE_MPI=ON -DDLC_NO_SKIPS=ON >/dev/null
cmake --build build -j"$(nproc)"
echo "setup: built build/dlc and build/libdlrt.a"
