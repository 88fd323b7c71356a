require "json"

package = JSON.parse(File.read(File.join(__dir__, "package.json")))

Pod::Spec.new do |s|
  s.name         = "TrendSplit"
  s.version      = package["version"]
  s.summary      = package["description"]
  s.homepage     = package["homepage"]
  s.license      = package["license"]
  s.authors      = package["author"]
  s.platforms    = { :ios => "15.1" }
  s.source       = { :path => "." }
  s.swift_version = "5.9"

  # The glue in ios/, plus the Swift package's encoder and CoreML runner compiled into
  # this pod (one module, so they are not imported by name here).
  s.source_files = [
    "ios/**/*.{h,m,mm,swift}",
    "../Sources/TrendSplitCore/**/*.swift",
    "../Sources/TrendSplitCoreML/**/*.swift",
  ]
  s.private_header_files = "ios/**/*.h"
  s.frameworks = "CoreML"

  # Old-architecture apps get the RCT_EXTERN_MODULE bridge; new-architecture apps (the
  # default since React Native 0.76) get the TurboModule in TrendSplit.mm.
  if ENV["RCT_NEW_ARCH_ENABLED"] == "1"
    s.pod_target_xcconfig = { "SWIFT_ACTIVE_COMPILATION_CONDITIONS" => "$(inherited) RCT_NEW_ARCH_ENABLED" }
  end

  install_modules_dependencies(s)
end
