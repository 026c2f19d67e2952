// OpenHGS targets Linux fabrics only (file modes, /dev/tpmrm0, PKCS#11 modules as .so).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
