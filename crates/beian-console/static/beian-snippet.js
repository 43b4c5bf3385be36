copyBeianSite() {
  wx.setClipboardData({ data: 'https://beian.miit.gov.cn/' });
}
