"""The risk rules: compiled patterns for dangerous operations. No heavy imports.

Imported by the Claude Code ``command`` hook, which must start in a few milliseconds.
"""

from __future__ import annotations

import re

from task_orchestrator._lazy import LazyRe
from task_orchestrator.literals import RISK_LEVELS

__all__ = [
    "RISK_ORDER",
    "RULES",
    "Rule",
    "combine",
    "decision_for",
    "rule_level",
    "statistics_level",
    "text_level",
]

RISK_ORDER: dict[str, int] = {level: i for i, level in enumerate(RISK_LEVELS)}
# each text rule's stable id (the catalog in risk/packs/ gives its examples)
TEXT_IDS: dict[str, str] = {
    "recursive delete of a root, home or workspace": "deletes.text-recursive-root-home",
    "recursive delete": "deletes.text-recursive",
    "disk or partition tool": "system.text-disk-tool",
    "secure delete / shred": "deletes.text-shred",
    "fork bomb": "system.fork-bomb",
    "shutdown or reboot": "system.text-shutdown",
    "kills processes": "system.kills-processes",
    "force push": "git.text-force-push",
    "history rewrite": "git.text-history-rewrite",
    "production database statement": "system.production-database",
    "destructive database statement": "system.destructive-database",
    "pipes from the network into a shell": "exec.text-network-into-shell",
    "decodes and executes": "exec.text-decodes-and-runs",
    "decodes an obfuscated payload": "exec.decodes-payload",
    "sends files to a remote host": "network.text-upload",
    "copies to or from a remote host": "network.text-remote-copy",
    "raw network connection or listener": "network.text-raw-connection",
    "network socket or pty from an interpreter": "interpreters.socket-or-pty",
    "proxy or anonymising network change": "network.proxy-change",
    "remote shell with a password": "network.password-remote-shell",
    "reads or sends credentials": "credentials.text-sends",
    "accesses credential stores": "credentials.text-reads",
    "dumps credentials": "credentials.dumps",
    "tampers with shell history": "system.history-tampering",
    "clears or disables logs/auditing": "system.clears-logs",
    "disables a security control": "system.disables-security",
    "timestomps files or the clock": "system.timestomps",
    "persistence: scheduled task / startup item": "system.text-persistence",
    "persistence: scheduled or triggered command": "system.scheduled-command",
    "adds or changes accounts/authentication": "system.accounts",
    "escalates privileges": "permissions.escalates",
    "switches user": "permissions.switches-user",
    "runs as root": "system.text-as-root",
    "world-writable permissions": "permissions.text-world-writable",
    "recursive ownership/permission change": "permissions.text-recursive",
    "executes a file from a temp or download dir": "exec.text-temp-file",
    "searches for credential files": "credentials.text-searches",
    "searches for setuid files": "permissions.searches-setuid",
    "queries a cloud metadata/credential endpoint": "cloud.text-metadata-endpoint",
    "makes a file executable and runs it": "exec.text-chmod-and-run",
    "interpreter start-up hook": "interpreters.text-start-up-hook",
    "finds the interpreter's start-up folders": "interpreters.start-up-folders",
    "runs an AppleScript file": "interpreters.applescript-file",
    "reads another process's memory": "system.reads-process-memory",
    "sends data through ssh": "network.pipes-into-ssh",
    "pulls files from a remote host through ssh": "network.pulls-through-ssh",
    "sends data through DNS": "network.text-dns-exfiltration",
    "spoofs a password prompt": "credentials.password-prompt",
    "encrypts or password-protects files": "system.encrypts-files",
    "enables remote access": "network.enables-remote-access",
    "container escape or host mount": "system.container-escape",
    "kernel or swap tampering": "system.kernel-tampering",
    "tunnels a local service to the internet": "network.tunnel",
    "remote execution with inline credentials": "network.remote-execution-tools",
    "spoofs a user agent": "network.user-agent-spoofing",
    "cloud instance or launch-template change": "cloud.text-instances",
    "cloud storage transfer": "cloud.text-storage-transfer",
    "builds and runs native code": "exec.builds-and-runs",
    "makes a downloaded/temp file executable": "exec.chmod-temp-file",
    "runs code from an interpreter one-liner with risky modules": "interpreters.risky-one-liner",
    "captures screen, keystrokes or clipboard": "system.captures-input",
    "cloud or cluster control-plane change": "cloud.text-control-plane",
    "writes outside the workspace (system paths)": "system.text-writes-system-path",
    "hides files or processes": "system.hides-files",
}


class Rule:
    """A named pattern and the risk level of what it matches (compiled on first use)."""

    __slots__ = ("id", "ignorecase", "level", "name", "pattern", "source")

    def __init__(self, name: str, level: str, source: str, ignorecase: bool = False, id: str = "") -> None:
        self.name, self.level, self.source, self.ignorecase = name, level, source, ignorecase
        self.id = id or TEXT_IDS.get(name, "custom." + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))
        # Case-sensitive, as programs read their flags (`grep -nC` is not `nc`, `zip -P` is
        # not `-p`); SQL and a few product names are matched in any case.
        self.pattern = LazyRe(source, re.MULTILINE | (re.IGNORECASE if ignorecase else 0))


def _r(name: str, level: str, pattern: str, ignorecase: bool = False) -> Rule:
    return Rule(name, level, pattern, ignorecase)


# The one list of files and folders that hold secrets (engine.CREDENTIAL_PATH anchors it to
# a path). The text rules, which judge a command the parser could not read, find it anywhere
# in the text, with a few more words that name keys there.
CREDENTIAL_NAMES = (
    r"\.ssh/(?:id_[\w-]+|authorized_keys2?|known_hosts)|id_(?:rsa|dsa|ecdsa|ed25519)|"
    r"proc/[^/]+/environ|\.aws/(?:credentials|config)|\.config/gcloud(?:/|$)|\.kube/config|"
    r"\.docker/config\.json|\.netrc|\.pgpass|\.git-credentials|\.gnupg(?:/|$)|"
    r"\.env(?:\.(?!example|sample|template|dist|defaults?\b)[\w.-]+)?|\.vault-token|"
    r"[\w.-]*\.(?:kdbx|keychain(?:-db)?)|shadow|gshadow|sudoers|\.config/gh/hosts\.yml|"
    r"Login Data|Cookies|key4\.db|logins\.json|\.password-store(?:/|$)|"
    r"\.\w*sh_history|\.history|\.mysql_history|\.psql_history|"
    r"master\.passwd|opasswd|[\w.-]*\.keytab|krb5cc_[\w.-]*|secrets\.tdb|passdb\.tdb|"
    r"(?:var|lib)/sss/(?:db|secrets)(?:/[^/]*)?|dslocal/nodes/[^/]+/users(?:/[^/]*)?|db/shadow(?:/[^/]*)?|"
    r"\.local/share/keyrings(?:/[^/]*)?|keyrings/[^/]+\.keyring|NetworkManager/system-connections(?:/[^/]*)?|"
    r"\.mozilla/firefox/[^/]+/(?:key[34]\.db|logins\.json|cookies\.sqlite)|ssl/private(?:/[^/]*)?|"
    r"\.(?:ssh|aws|gnupg|kube|docker)/?"
)
_CRED = (
    r"(?:(?:^|(?<=[\s/'\"=@<>:~]))(?:" + CREDENTIAL_NAMES + r")(?=$|[\s'\"?#;|&)<>])"
    r"|keychain|\.pem\b|/etc/passwd|private[_-]?key|/proc/[^/\s]+/(?:mem|maps))"
)
_REMOTE = r"(?:\S+@[\w.-]+:|(?:https?|ftp)://)"
_START = r"(?:^|[;&|({`]\s*|\$\(\s*|\bthen\s+|\bdo\s+|\belse\s+)"

RULES: list[Rule] = [
    # -- destruction ----------------------------------------------------------------------
    _r(
        "recursive delete of a root, home or workspace",
        "critical",
        r"\brm\s+(?:-[a-z-]+\s+)*(?:-[a-z]*r[a-z]*f|-[a-z]*f[a-z]*r|-r\s+-f|-f\s+-r|--recursive)"
        r"[a-z]*\s+(?:--no-preserve-root\s+)?(?:/|~/?|\$HOME/?|\.|\*|/\*|\./\*|~/\*)"
        r"(?=\s|$|;|&|\||[\"')])",
    ),
    _r("recursive delete", "high", r"\brm\s+(?:-[a-z-]+\s+)*-[a-z]*r|\brm\s+--recursive"),
    _r(
        "disk or partition tool",
        "critical",
        r"\b(?:mkfs(?:\.\w+)?|wipefs|fdisk|sfdisk|parted|gdisk|diskutil\s+(?:erase|partition)\w*)\b"
        r"|\bdd\b[^|;&]*\bof=/dev/|>\s*/dev/(?:sd|nvme|hd|disk)\w*",
    ),
    _r("secure delete / shred", "high", r"\b(?:shred|srm)\b"),
    _r("fork bomb", "critical", r":\(\)\s*\{\s*:\s*\|\s*:"),
    _r(
        "shutdown or reboot",
        "high",
        _START + r"(?:shutdown|reboot|halt|poweroff|init\s+[06])\b"
        r"|\bsystemctl\s+(?:poweroff|reboot|halt)\b",
    ),
    _r("kills processes", "medium", _START + r"(?:kill|pkill|killall)\b"),
    # -- version control / databases ---------------------------------------------------------
    _r("force push", "high", r"\bgit\s+push\b[^;&|]*(?:\s-f\b|--force|\+\w)"),
    _r(
        "history rewrite",
        "high",
        r"\bgit\s+(?:reset\s+--hard|clean\s+-[a-z]*f|filter-branch|filter-repo|rebase\b|"
        r"update-ref\s+-d|reflog\s+expire|branch\s+-D|checkout\s+--\s+\.)",
    ),
    _r(
        "production database statement",
        "critical",
        r"\b(?:drop\s+(?:database|table|schema)|truncate\s+table|delete\s+from)\b.*\bprod(?:uction)?\b"
        r"|\bprod(?:uction)?\b.*\b(?:drop\s+(?:database|table|schema)|truncate\s+table)\b",
        True,
    ),
    _r(
        "destructive database statement",
        "high",
        r"\b(?:drop\s+(?:database|table|schema)|truncate\s+table|delete\s+from\s+\w+\s*(?:;|$|\"|'))",
        True,
    ),
    # -- network into a shell, remote execution, exfiltration -----------------------------------
    _r(
        "pipes from the network into a shell",
        "critical",
        r"\b(?:curl|wget|fetch)\b[^|;]*\|\s*(?:sudo\s+)?(?:ba|z|k|da)?sh\b"
        r"|\b(?:ba|z)?sh\s+<\(\s*(?:curl|wget)|\b(?:ba|z)?sh\s+-c\s+[\"']?\$\((?:curl|wget)",
    ),
    _r(
        "decodes and executes",
        "high",
        r"(?:base64\s+(?:-d|--decode|-D)|xxd\s+-r|openssl\s+enc\s+-d)[^;]*\|\s*(?:ba|z)?sh\b"
        r"|\beval\s+[\"']?\$\(.*(?:base64|xxd|openssl)",
    ),
    _r(
        "decodes an obfuscated payload",
        "medium",
        r"\|\s*(?:base64\s+(?:-d|--decode|-D)|xxd\s+-r|b64decode)\b",
    ),
    _r(
        "sends files to a remote host",
        "high",
        r"\bcurl\b[^;|]*(?:\s-F\s|--form\b|\s-T\s|--upload-file|--data(?:-binary)?\s+@|\s-d\s+@)"
        r"|\bwget\b[^;|]*--post-(?:file|data)|\bcurl\b[^;|]*(?:-X\s*POST|--request\s+POST)",
    ),
    _r("copies to or from a remote host", "high", rf"\b(?:scp|sftp|rsync)\b[^;|]*{_REMOTE}"),
    _r(
        "raw network connection or listener",
        "high",
        r"\b(?:nc|ncat|netcat|socat|telnet)\b\s+(?:-[a-z]+\s+)*[\w.-]+|/dev/(?:tcp|udp)/",
    ),
    _r(
        "network socket or pty from an interpreter",
        "high",
        r"\bpty\.spawn\b|\bsocket\.socket\b|/dev/(?:tcp|udp)/|-m\s*http\.server\b",
    ),
    _r(
        "proxy or anonymising network change",
        "high",
        r"\bnetworksetup\s+-set\w*proxy|" + _START + r"(?:tor|proxychains\w*)\b|iptables\s+-t\s+nat|"
        r"\b(?i:http|https|all|ftp)_(?i:proxy)=",
    ),
    _r("remote shell with a password", "high", r"\bsshpass\b|\bssh\b[^;|]*\s-R\s"),
    # -- credentials -----------------------------------------------------------------------------
    _r(
        "reads or sends credentials",
        "critical",
        rf"{_CRED}[^;&|]*\|\s*(?:curl|wget|nc|ncat|scp)|\b(?:curl|wget|scp|nc)\b[^;]*{_CRED}",
    ),
    _r(
        "accesses credential stores",
        "high",
        rf"\b(?:cat|less|more|head|tail|cp|scp|tar|zip|strings|grep|base64|xxd|sqlite3|openssl|"
        rf"logger|dd)\b[^;&|]*{_CRED}",
    ),
    _r(
        "dumps credentials",
        "high",
        rf"\bsecurity\s+(?:dump-keychain|find-\w+-password|find-certificate|export)|"
        rf"\b(?:mimipenguin|lazagne|laZagne|LaZagne|unshadow|hashcat)\b|{_START}(?:john|hydra)\b"
        rf"|\bgcloud\s+iam\s+service-accounts\s+keys|\baws\s+(?:iam|sts|secretsmanager|ssm\s+get)",
    ),
    # -- hiding tracks, impairing defences ----------------------------------------------------------
    _r(
        "tampers with shell history",
        "high",
        r"\bhistory\s+-c|\bset\s+\+o\s+history|HIST(?:FILE|SIZE|FILESIZE|CONTROL)=|"
        r"unset\s+HIST|>\s*~?[\w/$]*\.(?:bash|zsh|sh)_history|\.(?:bash|zsh)_history\s*$"
        r"|ln\s+-\w*s\w*\s+/dev/null\s+\S*history|PROMPT_COMMAND=",
    ),
    _r(
        "clears or disables logs/auditing",
        "high",
        r">\s*/var/(?:log|spool/mail)/|/dev/null\s*>\s*/var/log|\b(?:rm|unlink|truncate|shred)\b"
        r"[^;]*/var/log/|\bauditctl\s+-[DeW]|\bufw\s+logging\s+off|"
        r"\bjournalctl\s+--(?:vacuum|rotate)|systemd-journald|\blogging\s+logs\s+delete|"
        r"\bunified\s+log\b|\blog\s+erase",
    ),
    _r(
        "disables a security control",
        "high",
        r"\b(?:systemctl|service)\s+(?:stop|disable|mask)\s+\S*(?:ufw|firewalld|iptables|auditd|"
        r"apparmor|selinux|journald|rsyslog|syslog|falcon|osquery|clamav)|\bsetenforce\s+0|"
        r"\b(?:iptables|ip6tables)\s+-[FX]|\bufw\s+disable|\bspctl\s+--master-disable|"
        r"\bcsrutil\s+disable|\bsysctl\s+-w\s+kernel\.|\bdefaults\s+write\b[^;]*(?:alf|firewall|"
        r"gatekeeper|LoginHook|LogoutHook)|xattr\s+-[dr]\w*\s+com\.apple\.quarantine|/etc/ufw/",
    ),
    _r(
        "timestomps files or the clock",
        "high",
        _START + r"date\s+\d{8,}",  # `touch -t` of a file: packs/system.py, by where the file is
    ),
    # -- persistence and privilege ------------------------------------------------------------
    _r(
        "persistence: scheduled task / startup item",
        "high",
        r"\bcrontab\s+(?:-\s*$|-r|(?!-l)\S+\s*$|-l\s*\|)|/etc/cron|/var/spool/cron|/etc/rc\.local|"
        r"/etc/init\.d/|/etc/systemd/|\.config/systemd/|systemctl\s+(?:enable|daemon-reload)|"
        r"LaunchAgents|LaunchDaemons|launchctl\s+(?:load|submit|bootstrap)|" + _START + r"at\s+(?:now|\d)|"
        r"loginwindow|login\s*items?|/etc/(?:profile|bash\.bashrc|zshenv|zprofile)|"
        r">>?\s*~?[\w/$]*/?\.(?:bashrc|bash_profile|profile|zshrc|zshenv|zprofile|bash_logout)\b|"
        r"\btrap\b[^;]*\b(?:DEBUG|SIGINT|EXIT)\b|ld\.so\.preload|\bexport\s+LD_PRELOAD=|LD_PRELOAD=[\"']?(?:/tmp|/var/tmp|/dev/shm)|\bemond\b|"
        r"/etc/update-motd\.d|/etc/xdg/autostart|\bsysrc\b|\bsystemd-run\b",
    ),
    _r(
        "persistence: scheduled or triggered command",
        "high",
        _START + r"at\s+(?:now|\d)|loginwindow|login\s*items?|\bemond\b|\bsystemd-run\b",
    ),
    _r(
        "adds or changes accounts/authentication",
        "high",
        _START + r"(?:sudo\s+)?(?:useradd|adduser|usermod|userdel|groupadd|chpasswd|passwd|chsh|visudo|"
        r"dscl\s+\S+\s+-"
        r"(?:create|append|passwd|delete)|pw\s+(?:user|group)\w*|ldapadd|ldapmodify|sysadminctl|"
        r"dseditgroup)\b|"
        r"/etc/pam\.d|/etc/sudoers|authorized_keys",
    ),
    _r(
        "escalates privileges",
        "high",
        r"\bchmod\s+(?:-\w+\s+)*(?:[ua]*\+[rwx]*s|[4567][0-7]{3})\b|"
        r"\bsudo\s+(?:-\w+\s+)*(?:su|-s|-i|sh|bash)\b|\bsetcap\b|"
        r"\bmodprobe\b|\binsmod\b|\bkextload\b|\bdocker\s+run\b[^;]*--privileged|"
        r"\bnsenter\b|\bunshare\b",
    ),
    _r("switches user", "medium", _START + r"su\s+(?:-l?\s+)?\w+"),
    _r("runs as root", "medium", r"\bsudo\b|\bdoas\b|\bpkexec\b"),
    _r("world-writable permissions", "medium", r"\bchmod\s+(?:-\w+\s+)*(?:-R\s+)?(?:0?777|a\+w|o\+w)"),
    _r("recursive ownership/permission change", "medium", r"\b(?:chmod|chown|chgrp)\s+-\w*R"),
    # -- execution from untrusted places, collection ----------------------------------------
    _r(
        "executes a file from a temp or download dir",
        "high",
        _START + r"(?:sudo\s+)?(?:(?:ba|z|da)?sh|python\d?|perl|ruby|node|swift|osascript|source|\.)?"
        r"\s*(?:/tmp|/var/tmp|/dev/shm|\$TMPDIR|/private/tmp|~/Downloads|\$HOME/Downloads)/\S+",
    ),
    _r(
        "searches for credential files",
        "high",
        r"\bfind\b[^;|]*-i?name\s+['\"]?(?:id_rsa|id_ed25519|id_dsa|\.netrc|\.gnupg|\.pgpass|"
        r"token|credentials?|\*\.pem|\*\.key|\*\.kdbx|\.git-credentials|\.aws|\.ssh)\b",
    ),
    _r("searches for setuid files", "medium", r"\bfind\b[^;|]*-perm\s+[-/+]?[0-7]?[246]000\b"),
    _r(
        "queries a cloud metadata/credential endpoint",
        "high",
        r"169\.254\.169\.254|metadata\.google\.internal|\bkubectl\s+get\s+secrets?\b|"
        r"\bsecurity\s+add-trusted-cert\b|\bupdate-ca-certificates\b",
    ),
    _r(
        "makes a file executable and runs it",
        "high",
        r"\bchmod\s+(?:u?\+x|[0-7]*[1357][0-7]{2})\s+(\S+)\s*(?:\n|;|&&)\s*(?:sudo\s+)?"
        r"(?:(?:ba|z)?sh\s+)?(?:\./)?\1",
    ),
    _r(
        "interpreter start-up hook",
        "high",
        r"getusersitepackages|sitecustomize|usercustomize|\.pth\b|PYTHONSTARTUP=|NODE_OPTIONS=",
    ),
    _r(
        "finds the interpreter's start-up folders",
        "high",
        r"getusersitepackages|getsitepackages\(\)|site\.USER_SITE",
    ),
    _r("runs an AppleScript file", "high", r"\bosascript\s+(?!-e)\S+"),
    _r(
        "reads another process's memory",
        "high",
        r"/proc/[^/\s]+/(?:mem|maps)\b|\bgcore\b|\bgdb\b[^;]*\s-p\s|\bptrace\b",
    ),
    _r("sends data through ssh", "medium", r"\|\s*ssh(?=\s|$)"),
    _r(
        "pulls files from a remote host through ssh",
        "high",
        r"\bssh\b[^;|]*[\"'][^\"']*\b(?:tar|cat|dd)\b[^\"']*[\"']\s*>",
    ),
    _r(
        "sends data through DNS",
        "high",
        r"\b(?:dig|nslookup|host)\b[^;|]*(?:\$\([^)]*\)|`[^`]*`)[\w-]*\.[\w-]+",
    ),
    _r("spoofs a password prompt", "high", r"display\s+dialog[^;]*(?:password|passphrase)|\bkeylog"),
    _r(
        "encrypts or password-protects files",
        "high",
        r"\bopenssl\s+(?:enc|des3|aes\S*)\b(?![^;|]*\s-d\b)|\b7z\s+a\b[^;]*\s-p|"
        r"\bzip\b[^;]*\s(?:-e|-P)\b|\bgpg\b[^;]*\s(?:-c|--symmetric)\b|\bccrypt\b",
    ),
    _r(
        "enables remote access",
        "high",
        r"\bsystemsetup\s+-setremotelogin\s+on|\bkickstart\s+-activate|"
        r"\bsystemctl\s+(?:start|enable)\s+(?:ssh|sshd|tor|vnc)\b",
    ),
    _r(
        "container escape or host mount",
        "high",
        r"\bdocker\s+run\b[^;]*-v\s+/:/|\bdocker\s+run\b[^;]*--pid[= ]host|"
        r"\bdocker\s+run\b[^;]*-v\s+/var/run/docker\.sock",
    ),
    _r(
        "kernel or swap tampering",
        "high",
        r"/proc/sys(?:rq-trigger|/kernel/)|\bswapoff\b|\bchkconfig\s+off\b|"
        r"\b(?:service|systemctl)\s+\S+\s+stop\b[^;]*\n?\s*chkconfig",
    ),
    _r(
        "tunnels a local service to the internet",
        "high",
        _START + r"(?:cloudflared\s+tunnel|ngrok|localtunnel|lt\s+--port|frpc|chisel)\b",
    ),
    _r(
        "remote execution with inline credentials",
        "high",
        r"\b(?:psexec|wmiexec|smbexec|atexec|evil-winrm|crackmapexec|impacket)\S*\b",
    ),
    _r("spoofs a user agent", "high", r"\bcurl\b[^;|]*\s(?:-A|--user-agent)\s"),
    _r(
        "cloud instance or launch-template change",
        "high",
        r"\baws\s+ec2\s+(?:run-instances|create-launch-template|modify-\S+|create-snapshot|"
        r"authorize-security-group-\S+)",
    ),
    _r(
        "cloud storage transfer",
        "high",
        r"\baws\s+(?:--[\w-]+\s+)*s3\s+(?:cp|sync|mv|rm)\b|\bgsutil\s+(?:cp|rsync|rm)\b|"
        r"\baz\s+storage\s+blob\s+(?:upload|download|delete)",
    ),
    _r("builds and runs native code", "medium", r"\b(?:gcc|g\+\+|clang\+?\+?|cc)\b[^;]*&&\s*\./"),
    _r(
        "makes a downloaded/temp file executable",
        "high",
        r"\bchmod\s+(?:\+x|[0-7]*[1357][0-7]{0,2})\s+(?:/tmp|/var/tmp|/dev/shm|\$TMPDIR|~/Downloads)/",
    ),
    _r(
        "runs code from an interpreter one-liner with risky modules",
        "high",
        r"\b(?:python\d?(?:\.\d+)?|perl|ruby|node|osascript|\$\w*python\w*)\b[^;|]*"
        r"(?:-c|-e)\s+(?:\"[^\"]*|'[^']*)(?:base64|exec\(|eval\(|\bsocket\b|subprocess|os\.system|\bpty\b|"
        r"ctypes|/etc/passwd|\bshadow\b|tell application|do shell script|keystroke)",
    ),
    _r(
        "captures screen, keystrokes or clipboard",
        "high",
        _START + r"(?:screencapture|import\s+-window|xwd\s|scrot|gnome-screenshot|pbpaste|xclip\s+-o|"
        r"xsel\s+-o|xinput\s+(?:test|list)|logkeys|tcpdump|tshark|pcap)\b",
    ),
    _r(
        "cloud or cluster control-plane change",
        "high",
        r"\b(?:aws|gcloud|az)\s+[\w-]+\s+[\w-]*(?:delete|remove|stop|disable|create-access-key|"
        r"put-bucket-policy|update-trail|create\s+--|set-iam|add-iam|attach-\w*-policy)|"
        r"\bgcloud\s+(?:compute|iam|logging|projects)\b|\bkubectl\s+(?:delete|exec|run|apply|"
        r"create|cp|drain)\b|\bstratus\b|\bterraform\s+(?:apply|destroy)",
    ),
    _r(
        "writes outside the workspace (system paths)",
        "high",
        r"(?:>>?|\btee\s+(?:-a\s+)?|\bcp\s+\S+\s+|\bmv\s+\S+\s+|\bsed\s+-i\S*\s+[^;]*\s)"
        r"(?:/etc/|/usr/(?:local/)?(?:bin|lib|sbin)|/bin/|/sbin/|/lib/|/boot/|/Library/|"
        r"/System/|~/Library/|\$HOME/Library/)",
    ),
    _r(
        "hides files or processes",
        "high",
        r"\bchflags\s+hidden|\bSetFile\s+-a\s+V|\bmount\s+-o\s+bind\s+\S+\s+/proc/|\bhidepid\b",
    ),
]


# Text rules that the rules over the parsed command (``_shellrules``) replace when the command
# parses; they still judge a command the parser does not understand.
SUPERSEDED = frozenset(
    {
        "recursive delete of a root, home or workspace",
        "recursive delete",
        "disk or partition tool",
        "secure delete / shred",
        "force push",
        "history rewrite",
        "pipes from the network into a shell",
        "decodes and executes",
        "raw network connection or listener",
        "reads or sends credentials",
        "accesses credential stores",
        "world-writable permissions",
        "recursive ownership/permission change",
        "runs as root",
        "executes a file from a temp or download dir",
        "makes a file executable and runs it",
        "writes outside the workspace (system paths)",
        "copies to or from a remote host",
        "shutdown or reboot",
        "sends files to a remote host",
        "sends data through DNS",
        "cloud instance or launch-template change",
        "cloud storage transfer",
        "cloud or cluster control-plane change",
        "queries a cloud metadata/credential endpoint",
        "searches for credential files",
        "persistence: scheduled task / startup item",
        "interpreter start-up hook",
    }
)
_RAW_ONLY = frozenset({"fork bomb"})  # syntax-level patterns: matched on the text as written
_MAX_NESTING = 6


def rules_hash() -> str:
    """A hash of the text rules' sources (the hints file must match it)."""
    import hashlib

    blob = "\n".join(f"{r.name}\t{r.ignorecase}\t{r.source}" for r in RULES)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


_HINTS: dict[str, tuple[bool, tuple[str, ...]]] | None = None


def _hints() -> dict[str, tuple[bool, tuple[str, ...]]]:
    """Strings one of which every match of a rule contains (task_orchestrator/risk/_hints.py), so that
    a hook process compiles only the patterns that could match; none if the file is stale."""
    global _HINTS
    if _HINTS is None:
        try:
            from task_orchestrator.risk._hints import HINTS, SOURCE_HASH

            _HINTS = HINTS if SOURCE_HASH == rules_hash() else {}
        except ImportError:
            _HINTS = {}
    return _HINTS


def text_level(
    text: str, rules: list[Rule] | None = None, skip: frozenset[str] = frozenset(), raw: str | None = None
) -> tuple[str, list[str]]:
    level, reasons = "low", []
    hints = _hints() if rules is None or rules is RULES else {}
    lowered: dict[int, str] = {}
    for rule in RULES if rules is None else rules:
        if rule.name in skip:
            continue
        subject = raw if raw is not None and rule.name in _RAW_ONLY else text
        hint = hints.get(rule.name)
        if hint is not None:
            lower, words = hint
            haystack = lowered.setdefault(id(subject), subject.lower()) if lower else subject
            if not any(w in haystack for w in words):
                continue  # no match possible: not even compiled
        if rule.pattern.search(subject):
            reasons.append(rule.name)
            if RISK_ORDER[rule.level] > RISK_ORDER[level]:
                level = rule.level
    return level, reasons


def _findings(
    command: str, cwd: str | None, depth: int, out_parsed: list | None = None
) -> list[tuple[str, str, str]]:
    from task_orchestrator.risk.engine import judge_commands
    from task_orchestrator.risk.shell import parse

    if depth > _MAX_NESTING:
        return [
            (
                "high",
                "the command could not be analysed (nested commands too deep to follow)",
                "analysis.unreadable",
            )
        ]
    parsed = parse(command, cwd)
    if out_parsed is not None:
        out_parsed.append(parsed)

    def again(text: str) -> list[tuple[str, str, str]]:
        return _findings(text, cwd, depth + 1, out_parsed)

    found = judge_commands(parsed, cwd, again)
    if any("too deep" in p or "too long" in p for p in parsed.problems):
        found.append(
            ("high", f"the command could not be analysed ({parsed.problems[0]})", "analysis.unreadable")
        )
    if parsed.ok:
        rendered = "\n".join(" | ".join(line) for line in parsed.lines if line)
        _, names = text_level(rendered, RULES, SUPERSEDED, raw=command)
    else:  # partly understood: the structure that parsed, and every text rule on the text
        _, names = text_level(command[:200_000], RULES)
        note = f"shell parser: {parsed.problems[0]}; judged on the text as well"
        found.append(("low", note, "analysis.partly-parsed"))
    found.extend((RULES_BY_NAME[n].level, n, RULES_BY_NAME[n].id) for n in names)
    return found


class Judgement:
    """A command's judgement: the level, the findings (level, reason, rule id) after the
    policy, how it was read (the parsed commands, the expansions) and what the policy did."""

    __slots__ = ("findings", "level", "parsed", "policy", "policy_notes")

    def __init__(self) -> None:
        self.level = "low"
        self.findings: list[tuple[str, str, str]] = []
        self.parsed: list = []
        self.policy = None
        self.policy_notes: list[str] = []

    @property
    def reasons(self) -> list[str]:
        out: list[str] = []
        for _, reason, _ in self.findings:
            if reason not in out:
                out.append(reason)
        return out


def judge(action: str, cwd: str | None = None, policy=None) -> Judgement:
    """Judge shell command ``action`` started in ``cwd``: parsed and judged by what would run
    (``engine``) and by the text rules over its parsed form, then the project and user policy
    for ``cwd`` (``policy``: one already loaded, or False for none) applied."""
    if not isinstance(action, str):  # bad input is judged, never a crash
        action = action.decode("utf-8", "replace") if isinstance(action, (bytes, bytearray)) else str(action)
    cwd = cwd if isinstance(cwd, str) and cwd else None
    out = Judgement()
    if policy is None:
        try:
            from task_orchestrator.risk.policy import load_policy

            policy = load_policy(cwd)
        except Exception:  # a policy that cannot be read never takes a rule away
            policy = False
    out.policy = policy or None
    from task_orchestrator.risk.paths import DELETE_OK

    token = None
    try:
        if policy and policy.delete_ok:
            token = DELETE_OK.set(tuple(f for f, _, _ in policy.delete_ok))
        findings = _findings(action, cwd, 0, out.parsed)
        if policy and policy.custom:
            for rule in policy.custom:
                if out.parsed and rule.matches(action, out.parsed[0]):
                    findings.append((rule.level, rule.reason, rule.id))
    except Exception as exc:  # a parser failure asks (never silence), and the text rules judge
        try:
            _, names = text_level(action, RULES)
        except Exception:
            names = []
        findings = [(RULES_BY_NAME[n].level, n, RULES_BY_NAME[n].id) for n in names]
        why = f"the command could not be analysed ({type(exc).__name__}); a human should look at it"
        findings.append(("high", why, "analysis.unreadable"))
    finally:
        if token is not None:
            DELETE_OK.reset(token)
    if policy:
        findings, out.policy_notes = policy.apply(findings)
    out.findings = findings
    for found_level, _, _ in findings:
        if RISK_ORDER[found_level] > RISK_ORDER[out.level]:
            out.level = found_level
    return out


def rule_level(action: str, rules: list[Rule] | None = None, cwd: str | None = None) -> tuple[str, list[str]]:
    """The risk level of shell command ``action`` started in ``cwd``, and the reasons
    (``judge``). ``rules``: judge the raw text with these text rules only."""
    if rules is not None:
        if not isinstance(action, str):
            action = (
                action.decode("utf-8", "replace") if isinstance(action, (bytes, bytearray)) else str(action)
            )
        return text_level(action, rules)
    j = judge(action, cwd)
    return j.level, j.reasons


RULES_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in RULES}


def statistics_level(failures: int, successes: int) -> tuple[str, str] | None:
    """Learned risk: an action that failed at least twice and more often than it worked."""
    if failures >= 2 and failures > successes:
        return "medium", f"failed {failures} of {failures + successes} recorded runs"
    return None


def combine(level: str, reasons: list[str], failures: int, successes: int) -> tuple[str, list[str]]:
    learned = statistics_level(failures, successes)
    if learned and RISK_ORDER[learned[0]] > RISK_ORDER[level]:
        return learned[0], [*reasons, learned[1]]
    return level, reasons


def decision_for(level: str, ask_at: str, deny_at: str) -> str:
    """allow / ask / deny for a risk level under the configured thresholds."""
    if RISK_ORDER[level] >= RISK_ORDER[deny_at]:
        return "deny"
    if RISK_ORDER[level] >= RISK_ORDER[ask_at]:
        return "ask"
    return "allow"
