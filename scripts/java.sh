# Sourced by kafka.sh and tahu.sh: the Java 17 to run, from JAVA_HOME, Debian's OpenJDK 17, or PATH.
# The caller defines die().
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
