# fabric: one-time certificate setup on a CHR hub (RouterOS v7) - run once, by hand, per hub.
# Creates the fabric CA (on CHR01 only; copy it to CHR02 with its key, or import both from an
# offline CA) and the hub's SSTP/REST certificate whose name matches nodes.<hub>.sstp.certificate
# and whose SAN matches nodes.<hub>.sstp.hostname in topology.yaml. Edit the two names below.
# Signing can take a while on small CPUs: the script waits for it (bounded).
{
:local caName "fabric-ca"
:local hubCert "chr01-sstp"
:local hubName "chr01.lab.example.com"
:if ([:len [/certificate find where name=$caName]] = 0) do={
  /certificate add name=$caName common-name=$caName key-usage=key-cert-sign,crl-sign days-valid=3650
  /certificate sign $caName
}
:if ([:len [/certificate find where name=$hubCert]] = 0) do={
  /certificate add name=$hubCert common-name=$hubName subject-alt-name=("DNS:" . $hubName) key-usage=digital-signature,key-encipherment,tls-server days-valid=825
  /certificate sign $hubCert ca=$caName
}
:local tries 0
:while (([:len [/certificate find where name=$hubCert and trusted=yes]] = 0) and ($tries < 60)) do={
  :delay 1s
  :set tries ($tries + 1)
}
/certificate set [find where name=$hubCert] trusted=yes
# Export the CA certificate (no key) for the client routers: fabric-ca.crt is what the
# rendered v6 client scripts import. Download it and upload it to every client router.
/certificate export-certificate [find where name=$caName] file-name=$caName type=pem
}
