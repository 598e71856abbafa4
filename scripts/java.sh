# Sourced by kafka.sh and tahu.sh: their log lines, and the Java 17 to run, from JAVA_HOME, Debian's OpenJDK 17,
# or PATH.

log() { printf '[%s] %s\n' "${0##*/}" "$*" >&2; }
die() { printf '[%s] error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

find_java() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    printf '%s\n' "$JAVA_HOME/bin/java"
  elif [[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]]; then
    printf '%s\n' /usr/lib/jvm/java-17-openjdk-amd64/bin/java
  elif command -v java >/dev/null 2>&1; then
    command -v java
  else
    die "java not found. Install Java 17 (apt-get install openjdk-17-jdk-headless) or set JAVA_HOME."
  fi
}
