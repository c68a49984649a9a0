"""Import names that differ from the distribution that provides them (``import cv2`` comes
from ``opencv-python``). Names that match their distribution after PEP 503 normalisation
(``flask_sqlalchemy`` -> ``flask-sqlalchemy``) need no entry."""

from __future__ import annotations

__all__ = ["IMPORT_TO_DIST"]

IMPORT_TO_DIST: dict[str, str] = {
    "_pytest": "pytest", "apiclient": "google-api-python-client", "argon2": "argon2-cffi",
    "attr": "attrs", "barcode": "python-barcode", "Bio": "biopython",
    "board": "adafruit-blinka", "bs4": "beautifulsoup4", "bson": "pymongo",
    "busio": "adafruit-blinka", "cairo": "pycairo", "camelot": "camelot-py",
    "cassandra": "cassandra-driver", "community": "python-louvain", "Crypto": "pycryptodome",
    "Cryptodome": "pycryptodomex", "cv2": "opencv-python", "dateutil": "python-dateutil",
    "digitalio": "adafruit-blinka", "discord": "discord-py", "dns": "dnspython",
    "docx": "python-docx", "dotenv": "python-dotenv", "engineio": "python-engineio",
    "faiss": "faiss-cpu", "fitz": "pymupdf", "freetype": "freetype-py", "gi": "pygobject",
    "git": "gitpython", "github": "pygithub", "gitlab": "python-gitlab",
    "gnupg": "python-gnupg", "googleapiclient": "google-api-python-client", "grpc": "grpcio",
    "haiku": "dm-haiku", "hid": "hidapi", "imblearn": "imbalanced-learn",
    "jenkins": "python-jenkins", "jose": "python-jose", "jwt": "pyjwt", "kafka": "kafka-python",
    "ldap": "python-ldap", "magic": "python-magic", "markdown_it": "markdown-it-py",
    "mecab": "mecab-python3", "mpl_toolkits": "matplotlib", "multipart": "python-multipart",
    "MySQLdb": "mysqlclient", "nacl": "pynacl", "newspaper": "newspaper3k",
    "nmap": "python-nmap", "odf": "odfpy", "OpenGL": "pyopengl",
    "opensearchpy": "opensearch-py", "OpenSSL": "pyopenssl", "osgeo": "gdal",
    "pdfminer": "pdfminer-six", "PIL": "pillow", "pkg_resources": "setuptools",
    "pptx": "python-pptx", "pythonjsonlogger": "python-json-logger", "pywintypes": "pywin32",
    "pyximport": "cython", "RPi": "rpi-gpio", "ruamel": "ruamel-yaml", "serial": "pyserial",
    "skimage": "scikit-image", "sklearn": "scikit-learn", "skopt": "scikit-optimize",
    "sksurv": "scikit-survival", "skvideo": "scikit-video", "slugify": "python-slugify",
    "snowflake": "snowflake-connector-python", "socketio": "python-socketio",
    "sonnet": "dm-sonnet", "speech_recognition": "speechrecognition", "tabula": "tabula-py",
    "telegram": "python-telegram-bot", "tree": "dm-tree", "umap": "umap-learn", "usb": "pyusb",
    "usb1": "libusb1", "vlc": "python-vlc", "websocket": "websocket-client",
    "win32api": "pywin32", "win32com": "pywin32", "win32con": "pywin32", "wx": "wxpython",
    "xdist": "pytest-xdist", "Xlib": "python-xlib", "yaml": "pyyaml", "zmq": "pyzmq",
}
