# Sourced by ./kestrel, scripts/mvn and .ci/run: exports JAVA_HOME as a JDK >= 25 and puts it first on PATH.
# Order: JAVA_HOME if it is >= 25, else the newest >= 25 under /usr/lib/jvm, else `java` on PATH if >= 25.

kestrel_java_major() {
    # prints the feature version of the JDK at $1 (e.g. 25), or nothing
    local v
    v=$("$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -n 1)
    case "$v" in
        1.*) echo "${v#1.}" | cut -d. -f1 ;;
        *) echo "$v" | cut -d. -f1 ;;
    esac
}

kestrel_find_jdk() {
    local cand best="" best_v=0 v
    if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ] && [ -x "$JAVA_HOME/bin/javac" ]; then
        v=$(kestrel_java_major "$JAVA_HOME")
        if [ -n "$v" ] && [ "$v" -ge 25 ]; then
            echo "$JAVA_HOME"
            return 0
        fi
    fi
    for cand in /usr/lib/jvm/*; do
        [ -x "$cand/bin/java" ] && [ -x "$cand/bin/javac" ] || continue
        v=$(kestrel_java_major "$cand")
        if [ -n "$v" ] && [ "$v" -ge 25 ] && [ "$v" -gt "$best_v" ]; then
            best="$cand"
            best_v="$v"
        fi
    done
    if [ -n "$best" ]; then
        echo "$best"
        return 0
    fi
    if command -v java >/dev/null 2>&1; then
        cand=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
        v=$(kestrel_java_major "$cand")
        if [ -n "$v" ] && [ "$v" -ge 25 ]; then
            echo "$cand"
            return 0
        fi
    fi
    return 1
}

if ! KESTREL_JDK=$(kestrel_find_jdk); then
    echo "kestrel: no JDK 25 or newer found (looked at JAVA_HOME, /usr/lib/jvm/*, and java on PATH)." >&2
    echo "kestrel: install one (e.g. Temurin 25) or point JAVA_HOME at it." >&2
    exit 1
fi
export JAVA_HOME="$KESTREL_JDK"
export PATH="$JAVA_HOME/bin:$PATH"
# Maven 3.8 on JDK 25 warns about sun.misc.Unsafe on every run; this flag (JDK 24+) silences it.
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
